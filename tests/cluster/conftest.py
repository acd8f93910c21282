"""Fixtures for the cluster profile (`make test-cluster`): 3 Kafka brokers, NameNode + 2 DataNodes, Spark standalone
with 2 workers, all started by devstack (the cluster profile of devstack/nodes.py). The tests fail (never skip) when
it is down."""

from __future__ import annotations

import os
import time

import pytest

from devstack import nodes
from devstack.engine import Stack
from tests.conftest import hdfs_user

pytestmark = pytest.mark.cluster

BOOTSTRAP = nodes.BOOTSTRAP_SERVERS
HDFS_URI = nodes.HDFS_URI


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


def high_watermarks(topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "cluster-probe"})
    try:
        meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if meta is None or meta.error is not None:
            return {}
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in meta.partitions}
    except Exception:  # noqa: BLE001 - the topic may not exist yet
        return {}
    finally:
        consumer.close()


def partition_leader(topic: str, partition: int = 0) -> int:
    """The broker id that leads ``topic``'s partition, as an admin client's describe reports it."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    description = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(timeout=10)
    return next(p.leader.id for p in description.partitions if p.id == partition)


def topic_config(topic: str, name: str) -> str:
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=10)[name].value


def big_csv(path, rows: int) -> list[tuple[str, str]]:
    players = [(f"Player {i:07d} Ñandú", str(i % 151)) for i in range(rows)]
    path.write_text("".join(f"{n};{a}\n" for n, a in players))
    return players


def wait_for(check, what: str, deadline_s: float, alive=None) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert alive is None or alive(), f"gave up waiting for {what}: the run ended"
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {deadline_s:.0f}s"
        time.sleep(0.1)
