"""Offsets of a topic right now: its watermarks, and the end offsets a run records before its job."""

from __future__ import annotations

from include.config import GROUP_PREFIX
from include.kafka.admin import DEFAULT_TIMEOUT_S, quiet_config


def watermarks(config: dict[str, str], topic: str, timeout: float = DEFAULT_TIMEOUT_S) -> dict[int, tuple[int, int]]:
    """{partition: (low, high)} offsets of ``topic`` right now."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**quiet_config(config), "group.id": f"{GROUP_PREFIX}-offsets", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic=topic, timeout=timeout)
        info = metadata.topics.get(topic)
        if info is None or not info.partitions:
            raise ValueError(f"topic {topic!r} does not exist on {config['bootstrap.servers']}")
        out = {}
        for partition in sorted(info.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            out[partition] = (low, high)
        return out
    finally:
        consumer.close()


def end_offsets(config: dict[str, str], topic: str, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, int]:
    """{partition (as str, for XCom/JSON): high watermark}."""
    return {str(p): high for p, (_, high) in watermarks(config, topic, timeout).items()}


def end_offsets_by_isolation(
    config: dict[str, str], topic: str, partitions: list[int], timeout: float = DEFAULT_TIMEOUT_S
) -> tuple[dict[int, int], dict[int, int]]:
    """({partition: high watermark}, {partition: last stable offset}) right now. The last stable offset is the
    end a ``read_committed`` reader (the read job, the verifiers) reaches: below the high watermark while a
    transaction is open on the partition. (librdkafka's own watermark query answers the latter.)"""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient(quiet_config(config))
    out = []
    for level in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED):
        futures = admin.list_offsets(
            {TopicPartition(topic, p): OffsetSpec.latest() for p in partitions},
            isolation_level=level,
            request_timeout=timeout,
        )
        out.append({tp.partition: future.result().offset for tp, future in futures.items()})
    return out[0], out[1]
