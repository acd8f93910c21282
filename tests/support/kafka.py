"""Kafka as a test sees it: a plain producer and an independent consumer (confluent-kafka, none of the project's
code), and topic clean-up."""

from __future__ import annotations

import time
import uuid

from tests.support.stack import BOOTSTRAP, hdfs_user


def delete_topics(topics: list[str], bootstrap: str = BOOTSTRAP) -> None:
    """Delete ``topics`` (best effort: a topic a test never created is not an error)."""
    from confluent_kafka.admin import AdminClient

    if not topics:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_topics(topics, operation_timeout=30)
    for future in futures.values():
        try:
            future.result(timeout=30)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass


def new_read_target(
    topic: str, kafka_config: dict[str, str], partitions: int, replication: int, cleanup_topics, cleanup_hdfs
) -> tuple[str, str]:
    """A new topic (created now, ``partitions`` x ``replication``) and where read_from_kafka will archive it;
    the topic, the archive's directory and the query's checkpoint are deleted after the test.
    Returns (output_dir, checkpoint) of the read job's plan."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from include.plans import checkpoint_for

    home = f"/user/{hdfs_user()}/{topic}"
    output_dir = f"{home}/archive"
    checkpoint = checkpoint_for(hdfs_user(), "read_from_kafka", topic, output_dir)
    cleanup_topics(topic)
    cleanup_hdfs(home)
    cleanup_hdfs(checkpoint)
    admin = AdminClient(kafka_config)  # kept alive until the future is done: its handle would be destroyed
    admin.create_topics([NewTopic(topic, partitions, replication)])[topic].result(timeout=30)
    return output_dir, checkpoint


def produce_records(records, extra_config: dict | None = None, flush_s: float = 120.0) -> None:
    """Produce (topic, key, value, partition) tuples with a plain confluent-kafka producer, waiting for the
    local queue to drain whenever it is full, and fail unless every record was acknowledged."""
    from confluent_kafka import Producer

    failed: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            failed.append(str(err))

    producer = Producer({"bootstrap.servers": BOOTSTRAP, **(extra_config or {})})
    for topic, key, value, partition in records:
        kwargs = {"key": key, "value": value, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(flush_s) == 0, "records still unacknowledged after flush"
    assert not failed, f"{len(failed)} records failed, first: {failed[0]}"


def consume_all(
    topic: str, timeout_s: float = 60.0, bootstrap: str = BOOTSTRAP
) -> list[tuple[bytes | None, bytes | None, int, int]]:
    """An independent consumer (plain confluent-kafka, none of the project's code): every record of every
    partition of ``topic`` from the beginning to the current end, as (key, value, partition, offset)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        assert meta.error is None, f"topic {topic}: {meta.error}"
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out = []
        deadline = time.monotonic() + timeout_s
        done = {p: False for p in ends}
        while not all(done.values()):
            assert time.monotonic() < deadline, f"could not read {topic} to its end within {timeout_s}s"
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            out.append((msg.key(), msg.value(), msg.partition(), msg.offset()))
            if msg.offset() + 1 >= ends[msg.partition()]:
                done[msg.partition()] = True
        return out
    finally:
        consumer.close()


PLAIN = {"bootstrap.servers": BOOTSTRAP}  # the stack's plaintext listener


def client_errors(config: dict[str, str], action) -> list:
    """Run ``action(client_config)`` with an error callback; return the errors librdkafka reported."""
    from confluent_kafka import KafkaException

    errors: list = []
    try:
        action({**config, "error_cb": errors.append, "socket.connection.setup.timeout.ms": "5000"})
    except KafkaException as exc:
        errors.append(exc.args[0])
    return errors


def list_topics(config: dict[str, str]) -> None:
    """Ask for the cluster's metadata (an action for ``client_errors``)."""
    from confluent_kafka import Producer

    producer = Producer(config)
    try:
        producer.list_topics(timeout=8)
    finally:
        producer.poll(0.5)  # serves the error callback


def produce_one(config: dict[str, str], topic: str):
    """Produce one record; the delivery error (None when acknowledged, _TIMED_OUT after 20 s)."""
    from confluent_kafka import KafkaError, Producer

    result: list = []
    producer = Producer({**config, "message.timeout.ms": "15000"})
    producer.produce(topic, b"value", on_delivery=lambda err, _msg: result.append(err))
    producer.flush(20)
    return result[0] if result else KafkaError(KafkaError._TIMED_OUT)


def count_records(config: dict[str, str], topic: str) -> int:
    """Records in ``topic``'s partition 0 (high - low watermark), by an independent consumer of ``config``."""
    from confluent_kafka import Consumer, TopicPartition

    from include.config import GROUP_PREFIX

    consumer = Consumer({**config, "group.id": f"{GROUP_PREFIX}-count"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return high - low
    finally:
        consumer.close()


def landing(topic: str, cleanup_hdfs) -> dict[str, str]:
    """{topic, hdfs_dir}: where a test's write_to_kafka run lands, in a folder of its own (/user/<user>/it-<topic>);
    the folder and the query's checkpoint are deleted after the test."""
    from include.plans import checkpoint_for

    home = f"/user/{hdfs_user()}/it-{topic}"
    hdfs_dir = f"{home}/landing"
    cleanup_hdfs(home)
    cleanup_hdfs(checkpoint_for(hdfs_user(), "write_to_kafka", topic, hdfs_dir))
    return {"topic": topic, "hdfs_dir": hdfs_dir}


def write_target(topic: str, admin_config: dict[str, str], cleanup_hdfs):
    """A fixture's body for a topic of the secure listeners: its ``landing``, and the topic and its .dlq deleted
    after the test by ``admin_config`` (the secure listener's admin)."""
    from confluent_kafka.admin import AdminClient

    yield landing(topic, cleanup_hdfs)
    admin = AdminClient(admin_config)
    for future in admin.delete_topics([topic, f"{topic}.dlq"], operation_timeout=30).values():
        future.exception(timeout=30)
