"""The cluster profile as its tests see it: addresses, partition leaders, topic configs, a big CSV, waits."""

from __future__ import annotations

import time

import psutil

from devstack import nodes

BOOTSTRAP = nodes.BOOTSTRAP_SERVERS
HDFS_URI = nodes.HDFS_URI


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


def busiest(groups: dict) -> object:
    """The key of the group of processes that works hardest right now (their CPU over one second); a process that
    ends meanwhile counts for nothing."""

    def cpu(proc: psutil.Process) -> float:
        try:
            return proc.cpu_percent(None)
        except psutil.NoSuchProcess:
            return 0.0

    for procs in groups.values():
        for proc in procs:
            cpu(proc)
    time.sleep(1.0)
    load = {key: sum(cpu(p) for p in procs) for key, procs in groups.items()}
    return max(load, key=load.get)
