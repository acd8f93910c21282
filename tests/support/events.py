"""Asset events checked against what is really there: an independent consumer (plain confluent-kafka) for the
offset ranges and counts, pyarrow for the archive files an event names. Used by the downstream DAG
tests/asset_dags/check_topic_events.py and by the tests themselves."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from tests.support.stack import BOOTSTRAP, WEBHDFS, hdfs_user


class EventMismatch(AssertionError):
    """An asset event's extra says something the topic or the archive contradicts."""


def read_range(topic: str, partition: int, start: int, end: int, timeout_s: float = 60.0) -> list[tuple]:
    """(partition, offset, key, value) of every record of ``topic``/``partition`` in [start, end), with a plain
    consumer that keeps no offsets."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    if end <= start:
        return []
    consumer = Consumer(
        {"bootstrap.servers": BOOTSTRAP, "group.id": f"test-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        out: list[tuple] = []
        deadline = time.monotonic() + timeout_s
        while not out or out[-1][1] + 1 < end:
            if time.monotonic() > deadline:
                raise EventMismatch(f"{topic}[{partition}] holds no record up to offset {end - 1} ({len(out)} read)")
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if msg.offset() < end:
                out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        return out
    finally:
        consumer.close()


def records_in(topic: str, ranges: dict[str, list[int]]) -> list[tuple]:
    rows = []
    for partition, (start, end) in sorted(ranges.items(), key=lambda kv: int(kv[0])):
        rows += read_range(topic, int(partition), start, end)
    return rows


def check_write_event(extra: dict) -> dict:
    """write_to_kafka's event against the topic and its dead-letter topic: each range holds as many records as
    the event counts (valid rows, dead letters), and the ranges start where the run recorded them."""
    ranges = extra["offsets"]["ranges"]
    valid = records_in(extra["topic"], ranges[extra["topic"]])
    dead = records_in(extra["dlq_topic"], ranges.get(extra["dlq_topic"], {}))
    got = {"valid": len(valid), "dead_lettered": len(dead)}
    want = {k: extra["rows"][k] for k in got}
    if got != want:
        raise EventMismatch(f"write event of run {extra['run_id']}: the topics hold {got}, the event says {want}")
    for topic, parts in ranges.items():
        for partition, (start, _) in parts.items():
            if start != extra["offsets"]["start"][topic][partition]:
                raise EventMismatch(f"{topic}[{partition}] range starts at {start}, not where the run recorded")
    keys = {k for _, _, k, _ in valid}
    if None in keys:
        raise EventMismatch("a valid row without a key (name)")
    return got


def _archive_rows(files: list[str]) -> list[tuple]:
    import pyarrow.parquet as pq
    from hdfs import InsecureClient

    client = InsecureClient(WEBHDFS, user=hdfs_user(), timeout=30)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files):
            local = Path(tmp) / f"{i}.parquet"
            client.download(path, str(local))
            table = pq.read_table(local, columns=["partition", "offset", "key", "value"])
            rows += [(r["partition"], r["offset"], r["key"], r["value"]) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def check_read_event(extra: dict) -> dict:
    """read_from_kafka's event against the topic and the archive: the files it names hold exactly the records of
    its ranges (read by a plain consumer), byte for byte, once each, as many as it counts."""
    if extra["files_total"] != len(extra["files"]):
        raise EventMismatch(f"the event names {len(extra['files'])} of {extra['files_total']} files: too many to check")
    expected = records_in(extra["topic"], extra["offsets"]["ranges"])
    archived = _archive_rows(extra["files"])
    if archived != expected:
        raise EventMismatch(
            f"read event of run {extra['run_id']}: the files it names hold {len(archived)} row(s), its ranges "
            f"{extra['offsets']['ranges']} {len(expected)} record(s), or not the same ones"
        )
    if len(expected) != extra["rows"]["valid"]:
        raise EventMismatch(f"read event counts {extra['rows']['valid']} rows, its ranges hold {len(expected)}")
    dates = sorted({f.split("/date=")[1].split("/")[0] for f in extra["files"]})
    if [f"date={d}" for d in dates] != extra["archive_partitions"]:
        raise EventMismatch(f"archive partitions {extra['archive_partitions']} are not those of its files {dates}")
    return {"archived": len(archived)}
