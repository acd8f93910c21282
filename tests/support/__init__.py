"""Helpers the tests share, one module per topic (the stack's addresses, Kafka, Airflow runs, Spark processes,
the cluster, test data). Test modules import from here, never from each other or from a conftest."""
