"""Shared fixtures. Integration tests talk to the real stack started by `make up`; they fail (never skip)
when it is down, with the command that fixes it. Helpers live in tests/support/."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.kafka import delete_topics, landing
from tests.support.stack import BOOTSTRAP, WEBHDFS, hdfs_user, port_open


@pytest.fixture(scope="session")
def stack():
    where = (("Kafka", BOOTSTRAP), ("WebHDFS", WEBHDFS))
    down = [f"{name} ({url})" for name, url in where if not port_open(int(url.rsplit(":", 1)[1]))]
    if down:
        pytest.fail(f"the stack is not running: {', '.join(down)} - run 'make up' (make test does it for you)")
    if "AIRFLOW_CONN_KAFKA_DEFAULT" not in os.environ:
        pytest.fail("the Airflow environment is not set - run the tests through 'make test'")


@pytest.fixture(scope="session", autouse=True)
def test_source_dirs(tmp_path_factory):
    """The tests' deployment: besides the configured source folders (include/data/, $AIRFLOW_HOME/landing/), a
    CSV may come from pytest's temporary folders, where each test writes its own; the `airflow dags test`
    runs inherit it. Nothing else is widened (the stack's secrets stay out of reach)."""
    from include.policy import allowing_source_dirs

    with pytest.MonkeyPatch.context() as patch:
        for name, value in allowing_source_dirs(str(tmp_path_factory.getbasetemp())).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test session, with the pre-resolved Kafka connector jars (no
    --packages, no network). One, because SparkSession.getOrCreate() would hand a second fixture the first
    fixture's session, with whatever jars that one had."""
    from pyspark.sql import SparkSession

    from include.spark_app import kafka_connector

    connector = kafka_connector()  # the DAGs' own: --jars from $SPARK_KAFKA_JARS_DIR, else --packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tests")
        .config("spark.jars" if "jars" in connector else "spark.jars.packages", *connector.values())
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def kafka_config(stack) -> dict[str, str]:
    return {"bootstrap.servers": BOOTSTRAP}


@pytest.fixture
def hdfs(stack):
    from hdfs import InsecureClient

    return InsecureClient(WEBHDFS, user=hdfs_user(), timeout=30)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topics and HDFS paths of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def cleanup_hdfs(hdfs):
    paths: list[str] = []
    yield paths.append
    for path in paths:
        hdfs.delete(path, recursive=True)


@pytest.fixture
def cleanup_topics(kafka_config):
    topics: list[str] = []
    yield topics.append
    delete_topics(topics, kafka_config["bootstrap.servers"])


@pytest.fixture
def target(request, unique, cleanup_topics, cleanup_hdfs) -> dict[str, str]:
    """{topic, hdfs_dir} of a test's write_to_kafka run: a topic named after the test's module (faults-<unique> in
    test_faults.py), deleted after the test with its .dlq, and a landing dir of its own (support.kafka.landing)."""
    topic = f"{request.module.__name__.rsplit('.', 1)[-1].removeprefix('test_').replace('_', '-')}-{unique}"
    cleanup_topics(topic)
    cleanup_topics(f"{topic}.dlq")
    return landing(topic, cleanup_hdfs)
