"""The read job's archive read back by engines that know nothing of this project: the directory is copied from
HDFS as it is (WebHDFS), then read by DuckDB and by pyarrow.dataset as a plain hive-partitioned directory,
without any commit log. A Kafka topic read back by a plain consumer, headers included."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from tests.support.stack import BOOTSTRAP

Row = tuple  # (partition, offset, key bytes, value bytes, headers tuple, date str)


def download(hdfs, output_dir: str, local: Path) -> Path:
    """The archive directory, every file of it, copied to ``local``/archive (a name no glob misreads)."""
    local.mkdir(parents=True, exist_ok=True)
    hdfs.download(output_dir, str(local / "archive"), n_threads=1)
    return local / "archive"


def _headers(raw) -> tuple:
    return tuple((h["key"], h["value"]) for h in raw) if raw else ()


def duckdb_rows(directory: Path) -> list[Row]:
    import duckdb

    if not any(directory.rglob("*.parquet")):
        return []  # (DuckDB fails on a glob that matches nothing)
    glob = str(directory / "**" / "*.parquet")
    rows = duckdb.sql(
        'SELECT partition, "offset", key, value, headers, CAST(date AS VARCHAR) '
        f"FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY partition, \"offset\""
    ).fetchall()
    return [(p, o, k, v, _headers(h), d) for p, o, k, v, h, d in rows]


def pyarrow_rows(directory: Path) -> list[Row]:
    import pyarrow.dataset as ds

    table = ds.dataset(str(directory), format="parquet", partitioning="hive").to_table()
    rows = [
        (r["partition"], r["offset"], r["key"], r["value"], _headers(r["headers"]), str(r["date"]))
        for r in table.to_pylist()
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def archive_rows(hdfs, output_dir: str, local: Path) -> list[Row]:
    """The archive's rows as DuckDB reads the directory; pyarrow.dataset must read the same."""
    directory = download(hdfs, output_dir, local)
    rows = duckdb_rows(directory)
    assert pyarrow_rows(directory) == rows, "DuckDB and pyarrow.dataset read the archive differently"
    return rows


def consume_committed(topic: str, timeout_s: float = 60.0, bootstrap: str = BOOTSTRAP) -> list[tuple]:
    """Every committed record of ``topic`` (read_committed, to each partition's end) as
    (partition, offset, key, value, headers), with a plain confluent-kafka consumer."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out, at_end = [], set()
        deadline = time.monotonic() + timeout_s
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end within {timeout_s}s"
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
                continue
            at_end.discard(msg.partition())
            out.append((msg.partition(), msg.offset(), msg.key(), msg.value(), tuple(msg.headers() or ())))
        return sorted(out, key=lambda r: (r[0], r[1]))
    finally:
        consumer.close()
