"""Unit tests use the session-wide local SparkSession from tests/conftest.py (no Kafka, no HDFS)."""
