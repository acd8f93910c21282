"""read_from_kafka end to end with `airflow dags test`; the Parquet archive directory is read back by DuckDB
and pyarrow.dataset (tests/support/archive.py) and compared with what was produced."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from include.plans import checkpoint_for
from tests.support.airflow import run_dag
from tests.support.archive import archive_rows
from tests.support.kafka import produce_records
from tests.support.stack import hdfs_user

pytestmark = pytest.mark.integration


@pytest.fixture
def archive(hdfs, tmp_path):
    """(partition, offset, key, value) of every row in the archive directory, as DuckDB reads it; bytes decoded
    as UTF-8 (with replacement) for readability."""
    calls = iter(range(100))

    def read(output_dir: str) -> list[tuple]:
        rows = archive_rows(hdfs, output_dir, tmp_path / f"read-{next(calls)}")
        text = [
            (p, o, *(None if b is None else b.decode("utf-8", "replace") for b in (k, v))) for p, o, k, v, *_ in rows
        ]
        return sorted(text, key=lambda t: (t[0], t[1]))

    return read


@pytest.fixture
def target(unique, kafka_config, cleanup_topics, cleanup_hdfs):
    topic = f"reads-{unique}"
    output_dir = f"/user/{hdfs_user()}/it-{unique}/archive"
    cleanup_topics(topic)
    cleanup_hdfs(f"/user/{hdfs_user()}/it-{unique}")
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", topic, output_dir))
    admin = AdminClient(kafka_config)
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    return {"topic": topic, "output_dir": output_dir}


def produce(kafka_config, topic: str, records: list[tuple[bytes | None, bytes | None, int]]) -> None:
    produce_records((topic, key, value, partition) for key, value, partition in records)


TUTORIAL = ["New Kafka message", "Another message", "One more"]


def test_every_message_lands_in_the_archive_once_and_reruns_add_only_new_ones(target, kafka_config, archive):
    produce(
        kafka_config,
        target["topic"],
        [(b"Zo\xc3\xab", "Grüße, 世界".encode(), 0), (None, b"", 1), (b"raw", b"bad \xff byte", 1)],
    )
    run = run_dag("read_from_kafka", {**target, "messages": TUTORIAL})
    assert run.ok, run.tail()
    rows = archive(target["output_dir"])
    assert next(r[2:] for r in rows if r[0] == 0) == ("Zoë", "Grüße, 世界")
    assert sorted(r[2:] for r in rows if r[0] == 1 and r[2] == "raw") == [("raw", "bad \ufffd byte")]
    assert sorted(r[3] for r in rows if r[2] is None) == sorted(["", *TUTORIAL])
    assert len(rows) == 6
    assert len({(r[0], r[1]) for r in rows}) == 6, "a (partition, offset) appears twice"
    # the console showed them in the task log, as in the tutorial
    for message in TUTORIAL:
        assert message in run.output

    again = run_dag("read_from_kafka", {**target, "messages": ["fourth", "fifth"]})
    assert again.ok, again.tail()
    rows2 = archive(target["output_dir"])
    assert len(rows2) == 8
    assert sorted(set(rows2) - set(rows), key=lambda r: r[3]) == sorted(
        [r for r in rows2 if r[3] in ("fourth", "fifth")], key=lambda r: r[3]
    )
    assert {r[3] for r in set(rows2) - set(rows)} == {"fourth", "fifth"}

    idle = run_dag("read_from_kafka", {**target})
    assert idle.ok, idle.tail()
    assert archive(target["output_dir"]) == rows2


def test_latest_on_a_new_query_skips_what_was_there_before(target, kafka_config, archive):
    produce(kafka_config, target["topic"], [(b"old", b"before the query", 0)])
    run = run_dag("read_from_kafka", {**target, "starting_offsets": "latest"})
    assert run.ok, run.tail()
    produce(kafka_config, target["topic"], [(b"new", b"after the query started", 1)])
    run = run_dag("read_from_kafka", {**target, "starting_offsets": "latest"})
    assert run.ok, run.tail()
    assert [r[2:] for r in archive(target["output_dir"])] == [("new", "after the query started")]
