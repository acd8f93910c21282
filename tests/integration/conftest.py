from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def spark_with_kafka(stack, spark):
    """The session-wide SparkSession (it has the pre-resolved connector jars), once the stack is up."""
    return spark
