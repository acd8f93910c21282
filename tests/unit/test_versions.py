"""pyspark and pyspark-client share one folder: the importable pyspark, its jars, the Kafka connector and
the pinned versions must all be the same Spark."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pyspark

from include.config import PROJECT_ROOT
from include.spark_app import connector_jars_dir

POM = PROJECT_ROOT / "devstack" / "pom.xml"


def _jar_version(folder: Path, artifact: str) -> str:
    jars = [p.name for p in folder.glob(f"{artifact}-*.jar")]
    assert len(jars) == 1, f"expected one {artifact} jar in {folder}, found {jars}"
    return re.match(rf"{re.escape(artifact)}-(.+)\.jar$", jars[0]).group(1)


def test_python_side_equals_the_spark_jars():
    jars = Path(pyspark.__file__).parent / "jars"
    assert pyspark.__version__ == _jar_version(jars, "spark-core_2.13")


def test_pyspark_and_pyspark_client_distributions_agree():
    assert version("pyspark") == version("pyspark-client") == pyspark.__version__


def test_kafka_connector_is_built_for_the_same_spark():
    folder = connector_jars_dir() or PROJECT_ROOT / ".stack" / "jars" / "spark-kafka"  # the Makefile's
    assert _jar_version(folder, "spark-sql-kafka-0-10_2.13") == pyspark.__version__
    pinned = re.search(r"<spark.version>(.+?)</spark.version>", POM.read_text()).group(1)
    assert pinned == pyspark.__version__


def test_hdfs_server_matches_the_hadoop_client_pyspark_bundles():
    client = _jar_version(Path(pyspark.__file__).parent / "jars", "hadoop-client-api")
    pinned = re.search(r"<hadoop.version>(.+?)</hadoop.version>", POM.read_text()).group(1)
    assert pinned == client
