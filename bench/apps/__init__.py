"""Spark applications of the benchmark, run with spark-submit (no imports from the bench package)."""
