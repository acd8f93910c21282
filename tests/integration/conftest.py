from __future__ import annotations

import pytest

from include.run_plan import spark_kafka_jars

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def spark_with_kafka(stack):
    """A SparkSession with the pre-resolved connector jars (no --packages, no network)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("integration-tests")
        .config("spark.jars", spark_kafka_jars())
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
