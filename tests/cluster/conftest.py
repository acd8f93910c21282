"""Fixtures for the cluster profile (`make test-cluster`): 3 Kafka brokers, NameNode + 2 DataNodes, Spark standalone
with 2 workers, all started by devstack (the cluster profile of devstack/nodes.py). The tests fail (never skip) when
it is down."""

from __future__ import annotations

import os

import pytest

from devstack import nodes
from devstack.engine import Stack
from tests.support.cluster import BOOTSTRAP
from tests.support.stack import hdfs_user

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="session")
def the_cluster():
    if "29092" not in os.environ.get("AIRFLOW_CONN_KAFKA_DEFAULT", ""):
        pytest.fail("the Airflow connections do not point at the cluster - run the tests through 'make test-cluster'")
    try:
        healthy = all(check.probe() for check in Stack("cluster").profile.whole.values())
    except OSError as exc:
        healthy = f"{exc}"
    if healthy is not True:
        pytest.fail(f"the cluster is not up and whole ({healthy}) - run 'make up PROFILE=cluster'")


@pytest.fixture(autouse=True)
def whole_cluster_after(the_cluster):
    """Whatever a test killed is started again, and the cluster is whole (every broker in every ISR, 2 live
    DataNodes, 2 workers) before the next test."""
    yield
    Stack("cluster").up()


@pytest.fixture
def kafka_config() -> dict[str, str]:
    return {"bootstrap.servers": BOOTSTRAP}


@pytest.fixture
def hdfs():
    from hdfs import InsecureClient

    return InsecureClient(nodes.WEBHDFS_URL, user=hdfs_user(), timeout=30)


@pytest.fixture
def cleanup_hdfs(hdfs):
    paths: list[str] = []
    yield paths.append
    for path in paths:
        try:
            hdfs.delete(path, recursive=True)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass
