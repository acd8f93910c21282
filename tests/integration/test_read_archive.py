"""read_from_kafka's archive over months of runs (issue #16), on the real stack: exact bytes and headers,
transactions, the archive bound to its query, UTC date partitions, a stop between batches, awkward paths and
retention. The archive directory is read back by DuckDB and pyarrow.dataset (tests/support/archive.py) and
the topic by a plain consumer: none of the project's code is on the checking side."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from include.plans import checkpoint_for
from tests.support.airflow import run_dag
from tests.support.archive import archive_rows, consume_committed, download, duckdb_rows
from tests.support.kafka import new_read_target
from tests.support.stack import BOOTSTRAP, HDFS_URI, WEBHDFS, hdfs_user

pytestmark = pytest.mark.integration


def producer(extra: dict | None = None):
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 20, **(extra or {})})


def produce(topic: str, records: list[dict]) -> None:
    """Each record: value, and optionally key, headers, partition, timestamp (ms)."""
    errors = []
    out = producer()
    for record in records:
        out.produce(topic, on_delivery=lambda err, _msg: err and errors.append(err), **record)
        out.poll(0)
    assert out.flush(60) == 0 and not errors, errors


def read_conf(topic: str, output_dir: str, **extra) -> dict:
    return {"topic": topic, "output_dir": output_dir, **extra}


def as_consumed(rows) -> list[tuple]:
    return [row[:5] for row in rows]


@pytest.fixture
def read_target(unique, kafka_config, cleanup_topics, cleanup_hdfs):
    topic = f"archive-{unique}"
    output_dir, checkpoint = new_read_target(topic, kafka_config, 2, 1, cleanup_topics, cleanup_hdfs)
    return topic, output_dir, checkpoint


def test_binary_keys_values_and_headers_are_archived_byte_for_byte(read_target, hdfs, tmp_path):
    topic, output_dir, _ = read_target
    rng = random.Random(16)
    records = [
        {"key": b"\xff", "value": b"\xfe", "partition": 0},  # both decode to U+FFFD: must stay apart
        {"key": b"\xfe", "value": b"\xff", "partition": 0},
        {"key": None, "value": b"", "partition": 1},
        {"value": "Grüße".encode(), "headers": [("trace", b"\x00\x01"), ("trace", None), ("ü", b"")], "partition": 1},
    ]
    records += [
        {
            "key": rng.randbytes(rng.randint(1, 30)),
            "value": rng.randbytes(rng.randint(0, 200)),
            "headers": [(f"h{i}", rng.randbytes(rng.randint(0, 8))) for i in range(rng.randint(0, 3))],
            "partition": rng.randint(0, 1),
        }
        for _ in range(500)
    ]
    produce(topic, records)

    run = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert run.ok, run.tail()
    archived = archive_rows(hdfs, output_dir, tmp_path / "a")
    assert as_consumed(archived) == consume_committed(topic)
    assert len(archived) == len(records)
    assert "holds all 504 message(s)" in run.output


def test_committed_transactions_are_archived_aborted_ones_never_and_an_open_one_waits(
    unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    topic = f"tx-{unique}"
    output_dir, _ = new_read_target(topic, kafka_config, 1, 1, cleanup_topics, cleanup_hdfs)
    # the transaction stays open across a whole DAG run: librdkafka's default timeout (60 s) would let the broker
    # abort it (and fence this producer) on a loaded machine
    tx = producer({"transactional.id": f"tx-{unique}", "transaction.timeout.ms": "600000"})
    tx.init_transactions(30)
    for values, end in ((["c1", "c2", "c3"], tx.commit_transaction), (["a1", "a2"], tx.abort_transaction)):
        tx.begin_transaction()
        for value in values:
            tx.produce(topic, value.encode())
        end(30)
    tx.begin_transaction()
    for value in ("o1", "o2"):
        tx.produce(topic, value.encode())
    tx.flush(30)  # sent, not committed: the partition's last stable offset stays before them

    run = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert run.ok, run.tail()
    assert "a transaction is open since offset" in run.output
    assert [r[3] for r in archive_rows(hdfs, output_dir, tmp_path / "a")] == [b"c1", b"c2", b"c3"]

    tx.commit_transaction(30)
    again = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert again.ok, again.tail()
    archived = archive_rows(hdfs, output_dir, tmp_path / "b")
    assert [r[3] for r in archived] == [b"c1", b"c2", b"c3", b"o1", b"o2"]
    assert as_consumed(archived) == consume_committed(topic)


def test_a_deleted_checkpoint_is_refused_before_spark_naming_the_query_and_the_archive_is_untouched(
    read_target, hdfs, tmp_path
):
    topic, output_dir, checkpoint = read_target
    produce(topic, [{"value": b"first"}])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok
    before = archive_rows(hdfs, output_dir, tmp_path / "a")
    hdfs.delete(checkpoint, recursive=True)

    refused = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert not refused.ok
    states = refused.task_states()
    assert states["record_offsets"] == "failed" and states["submit_read_job"] != "success", states
    assert "checkpoint is gone" in refused.output and checkpoint in refused.output
    assert archive_rows(hdfs, output_dir, tmp_path / "b") == before


def test_a_second_topic_on_the_same_output_dir_is_refused_naming_both_queries(
    read_target, unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    topic, output_dir, _ = read_target
    produce(topic, [{"value": b"first topic"}])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok
    other = f"archive-other-{unique}"
    new_read_target(other, kafka_config, 1, 1, cleanup_topics, cleanup_hdfs)
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", other, output_dir))
    produce(other, [{"value": b"second topic"}])

    refused = run_dag("read_from_kafka", read_conf(other, output_dir))
    assert not refused.ok
    assert f"topic '{topic}'" in refused.output and f"topic '{other}'" in refused.output
    assert [r[3] for r in archive_rows(hdfs, output_dir, tmp_path / "a")] == [b"first topic"]


def test_another_hdfs_user_on_an_absolute_output_dir_is_refused(read_target, hdfs, tmp_path):
    topic, output_dir, checkpoint = read_target
    produce(topic, [{"value": b"as the first user"}])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok
    conn = {
        "conn_type": "webhdfs",
        "host": "localhost",
        "port": int(WEBHDFS.rsplit(":", 1)[1]),
        "login": "someone-else",
        "extra": {"hdfs_uri": HDFS_URI},
    }
    # a deployment that lets both users write under /user (else the policy refuses the path first)
    env = {
        "AIRFLOW_CONN_WEBHDFS_DEFAULT": json.dumps(conn),
        "AIRFLOW__KAFKA_SPARK_AIRFLOW__ALLOWED_HDFS_ROOTS": "/user",
    }
    refused = run_dag("read_from_kafka", read_conf(topic, output_dir), env=env)
    assert not refused.ok
    assert "is the archive of query" in refused.output and checkpoint in refused.output
    assert "/user/someone-else/checkpoints" in refused.output
    assert [r[3] for r in archive_rows(hdfs, output_dir, tmp_path / "a")] == [b"as the first user"]


def test_a_directory_of_the_earlier_layout_is_refused_with_the_way_out(read_target, hdfs):
    topic, output_dir, _ = read_target
    hdfs.write(f"{output_dir}/_spark_metadata/0", data=b'v1\n{"path":"x"}\n')
    produce(topic, [{"value": b"m"}])
    refused = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert not refused.ok
    assert "earlier layout" in refused.output and "output_dir of its own" in refused.output


def test_the_archive_is_partitioned_by_utc_date_and_duckdb_reads_only_the_date_asked(read_target, hdfs, tmp_path):
    topic, output_dir, _ = read_target
    # two past days: the broker refuses timestamps over an hour ahead (message.timestamp.after.max.ms)
    later = datetime.now(UTC).replace(hour=0, minute=0, second=30, microsecond=0) - timedelta(days=1)
    earlier = later - timedelta(days=1)
    day = {t: t.strftime("%Y-%m-%d") for t in (later, earlier)}
    stamps = [earlier + timedelta(hours=23, minutes=59), later, earlier, later + timedelta(hours=3)]
    produce(topic, [{"value": f"m{i}".encode(), "timestamp": int(t.timestamp() * 1000)} for i, t in enumerate(stamps)])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok

    directory = download(hdfs, output_dir, tmp_path / "a")
    by_date = {r[3]: r[5] for r in duckdb_rows(directory)}
    assert by_date == {b"m0": day[earlier], b"m1": day[later], b"m2": day[earlier], b"m3": day[later]}
    assert sorted(p.name for p in directory.glob("date=*")) == sorted({f"date={d}" for d in day.values()})

    import duckdb

    # DuckDB takes the schema from the first file (the earlier day's); the later day's files are made
    # unreadable: a query on the earlier day that opened them would fail
    for path in (directory / f"date={day[later]}").glob("*.parquet"):
        path.write_bytes(b"not parquet at all")
    glob = str(directory / "**" / "*.parquet")
    query = f"SELECT value FROM read_parquet('{glob}', hive_partitioning = true) WHERE date = DATE '{day[earlier]}'"
    assert sorted(v for (v,) in duckdb.sql(query).fetchall()) == [b"m0", b"m2"]
    with pytest.raises(duckdb.Error):
        duckdb.sql(query.replace(day[earlier], day[later])).fetchall()


def test_a_processing_time_run_asked_to_stop_during_a_long_batch_lets_it_commit(read_target, hdfs, tmp_path):
    from tests.support.kafka import produce_records

    topic, output_dir, _ = read_target
    total = 1_000_000
    produce_records(((topic, None, f"message {i:07d}".encode(), i % 2) for i in range(total)), {"linger.ms": 50})
    conf = read_conf(topic, output_dir, trigger="processingTime", interval_seconds=1, run_seconds=2)
    run = run_dag("read_from_kafka", conf)
    assert run.ok, run.tail()
    progress = [
        json.JSONDecoder().raw_decode(line.split("batch progress: ", 1)[1])[0]
        for line in run.output.splitlines()
        if "batch progress: " in line
    ]
    assert progress, run.tail()
    # one batch took everything, and it ran longer than the run was asked to last: the stop waited for it
    assert progress[0]["numInputRows"] == total and progress[0]["durationMs"]["triggerExecution"] > 2000, progress
    assert len(archive_rows(hdfs, output_dir, tmp_path / "a")) == total


@pytest.mark.parametrize("name", ["with space", "per%41cent", "hash#1", "br[a]cket"])
def test_an_output_dir_with_awkward_characters_works(
    name, unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    topic = f"awkward-{unique}"
    new_read_target(topic, kafka_config, 1, 1, cleanup_topics, cleanup_hdfs)
    home = f"/user/{hdfs_user()}/it-{unique}"
    output_dir = f"{home}/{name}"
    cleanup_hdfs(home)
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", topic, output_dir))
    produce(topic, [{"value": b"one"}, {"value": b"two"}])
    run = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert run.ok, run.tail()
    assert [r[3] for r in archive_rows(hdfs, output_dir, tmp_path / "a")] == [b"one", b"two"]
    assert hdfs.status(f"{output_dir}/_archive.json", strict=False) is not None


def test_offsets_deleted_by_retention_between_runs_are_reported_and_the_ranges_go_on(
    unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    topic = f"retention-{unique}"
    output_dir, _ = new_read_target(topic, kafka_config, 1, 1, cleanup_topics, cleanup_hdfs)
    produce(topic, [{"value": f"a{i}".encode()} for i in range(10)])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok
    produce(topic, [{"value": f"b{i}".encode()} for i in range(10)])
    admin = AdminClient(kafka_config)
    for future in admin.delete_records([TopicPartition(topic, 0, 15)]).values():
        future.result(timeout=30)  # offsets 10..14 (b0..b4) are gone before the query read them

    strict = run_dag("read_from_kafka", read_conf(topic, output_dir, fail_on_data_loss=True))
    assert not strict.ok and "offsets 10..14 (5 message(s)) were deleted" in strict.output
    lenient = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert lenient.ok, lenient.tail()
    assert "offsets 10..14 (5 message(s)) were deleted" in lenient.output
    values = [r[3] for r in archive_rows(hdfs, output_dir, tmp_path / "a")]
    assert values == [f"a{i}".encode() for i in range(10)] + [f"b{i}".encode() for i in range(5, 10)]
    produce(topic, [{"value": b"c0"}])
    after = run_dag("read_from_kafka", read_conf(topic, output_dir))
    assert after.ok and "holds all 1 message(s)" in after.output, after.tail()


def test_the_full_audit_streams_the_whole_archive_and_names_a_copied_file(read_target, hdfs, tmp_path):
    import subprocess
    import sys

    topic, output_dir, _ = read_target
    produce(topic, [{"value": f"m{i}".encode(), "partition": i % 2} for i in range(20)])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok
    produce(topic, [{"value": b"later", "partition": 0}])
    assert run_dag("read_from_kafka", read_conf(topic, output_dir)).ok

    def audit() -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "include.verify.audit", "--topic", topic, "--output-dir", output_dir]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    clean = audit()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "'checked': 21" in clean.stdout and "exactly once" in clean.stdout

    date_dir = next(n for n in hdfs.list(output_dir) if n.startswith("date="))
    first = sorted(hdfs.list(f"{output_dir}/{date_dir}"))[0]
    local = tmp_path / "copy.parquet"
    hdfs.download(f"{output_dir}/{date_dir}/{first}", str(local))
    hdfs.upload(f"{output_dir}/{date_dir}/copied-by-hand.parquet", str(local))
    tampered = audit()
    assert tampered.returncode == 1
    assert "in the archive more than once" in tampered.stdout, tampered.stdout
