"""write_to_kafka end to end with `airflow dags test` on the real stack; an independent consumer checks
what arrived. Every test uses its own topic and HDFS directory."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from include.config import DEFAULT_PLAYERS_CSV
from include.plans import checkpoint_for
from tests.support.airflow import BackgroundDagRun, run_dag
from tests.support.data import PLAYERS
from tests.support.kafka import consume_all
from tests.support.stack import BOOTSTRAP, hdfs_user

pytestmark = pytest.mark.integration


def asset_events(uri: str) -> int:
    """How many events Airflow recorded for the asset ``uri`` (from Airflow's own database)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = select(func.count()).select_from(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        return session.scalar(query.where(AssetModel.uri == uri))


def kv(topic: str) -> list[tuple[str | None, str | None]]:
    return sorted(
        (k.decode() if k is not None else None, v.decode() if v is not None else None)
        for k, v, _, _ in consume_all(topic)
    )


def test_players_csv_arrives_whole_and_a_rerun_with_the_same_file_adds_nothing(target, tmp_path):
    run = run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target})
    assert run.ok, run.tail()
    assert kv(target["topic"]) == sorted(PLAYERS)
    assert kv(f"{target['topic']}.dlq") == []
    assert asset_events(f"kafka://{BOOTSTRAP}/{target['topic']}") == 1  # what schedules read_from_kafka

    again = run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target})
    assert again.ok, again.tail()
    assert "already holds this content" in again.output
    assert "was already taken by batch 0 of the query (an earlier run)" in again.output
    assert kv(target["topic"]) == sorted(PLAYERS)

    second = tmp_path / "more_players.csv"
    second.write_text("name;age\nAlexia Putellas;30\nSam Kerr;30\n")
    third = run_dag("write_to_kafka", {"source_csv": str(second), **target})
    assert third.ok, third.tail()
    assert kv(target["topic"]) == sorted([*PLAYERS, ("Alexia Putellas", "30"), ("Sam Kerr", "30")])


def test_a_run_whose_ingested_file_the_query_does_not_take_fails_naming_it(target, hdfs, tmp_path):
    # a file in the landing folder with a modification time 30 days before the newest file the query has seen
    # (copied with its times kept) is skipped by Spark's file source (maxFileAge): the run must not be green
    from include.hdfs.ingest import content_name, sha256_of

    assert run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target}).ok
    old = tmp_path / "old_players.csv"
    old.write_text("name;age\nOld Timer;99\n")
    landed = f"{target['hdfs_dir']}/{content_name(old, sha256_of(old))}"
    hdfs.upload(landed, str(old))
    month_ago_ms = int((time.time() - 30 * 86400) * 1000)
    hdfs.set_times(landed, modification_time=month_ago_ms, access_time=month_ago_ms)

    run = run_dag("write_to_kafka", {"source_csv": str(old), **target})
    assert not run.ok
    assert f"the file this run ingested, {landed}, was not taken by the query" in run.output, run.tail()
    assert ("Old Timer", "99") not in kv(target["topic"])


def test_bad_rows_go_to_the_dead_letter_topic_with_line_raw_and_reason(target, tmp_path):
    source = tmp_path / "mixed.csv"
    source.write_bytes(
        "\ufeffName;Age\r\nAnn;12\r\nBo;abc\r\n\r\nCy;1;2\r\n;40\r\nDee;151\r\nÉmile ; 009 \r\nF\xffo;3\r\n".encode(
            "utf-8", errors="surrogateescape"
        ).replace(b"\xc3\xbf", b"\xff")
    )
    run = run_dag("write_to_kafka", {"source_csv": str(source), **target})
    assert run.ok, run.tail()
    assert kv(target["topic"]) == [("Ann", "12"), ("Émile", "9")]
    letters = sorted((json.loads(v) for _, v, _, _ in consume_all(f"{target['topic']}.dlq")), key=lambda d: d["line"])
    assert [(d["line"], d["raw"], d["reason"]) for d in letters] == [
        (3, "Bo;abc", "age is not an integer: 'abc'"),
        (5, "Cy;1;2", "expected 2 fields, got 3"),
        (6, ";40", "empty name"),
        (7, "Dee;151", "age out of range 0..150: '151'"),
        (9, "F\ufffdo;3", "invalid UTF-8"),
    ]
    assert all(d["file"].startswith("hdfs://") and d["file"].endswith(".csv") for d in letters)
    assert "rows in=7 valid=2 dead-lettered=5" in run.output


def test_processing_time_mode_picks_up_a_file_that_lands_while_it_runs(target, hdfs, tmp_path):
    conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **target,
        "trigger": "processingTime",
        "interval_seconds": 2,
        "run_seconds": 40,
    }
    bg = BackgroundDagRun("write_to_kafka", conf)
    try:
        commits = checkpoint_for(hdfs_user(), "write_to_kafka", target["topic"], target["hdfs_dir"]) + "/commits/0"
        deadline = time.monotonic() + 120
        while hdfs.status(commits, strict=False) is None:
            assert bg.running(), f"the run ended before its first batch:\n{bg.wait().tail()}"
            assert time.monotonic() < deadline, "the query's first batch was not committed within 120s"
            time.sleep(1)
        # a file landing while the query runs: written under a hidden name, then renamed into place
        hdfs.write(f"{target['hdfs_dir']}/.late.csv._COPYING_", data=b"Late Comer;19\n", overwrite=True)
        hdfs.rename(f"{target['hdfs_dir']}/.late.csv._COPYING_", f"{target['hdfs_dir']}/late.csv")
        run = bg.wait(300)
    finally:
        bg.kill()
    assert run.ok, run.tail()
    assert kv(target["topic"]) == sorted([*PLAYERS, ("Late Comer", "19")])


@pytest.fixture
def bad_inputs(tmp_path):
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    return {"binary": str(binary), "missing": str(tmp_path / "nope.csv"), "directory": str(tmp_path)}


@pytest.mark.parametrize(
    ("change", "failed_task", "message"),
    [
        # refused by the params' own schema, before a run is even created (include/plans.py checks the same
        # again in validate_params, for callers that bypass the form: see tests/unit/test_plans.py)
        ({"topic": "no spaces allowed"}, None, "Invalid input for param topic"),
        ({"partitions": 0}, None, "Invalid input for param partitions"),
        ({"run_seconds": -1, "trigger": "processingTime"}, None, "Invalid input for param run_seconds"),
        # every other check is validate_params', before any topic or HDFS path exists
        ({"source_csv": "missing"}, "validate_params", "does not exist"),
        ({"source_csv": "directory"}, "validate_params", "is a directory"),
        ({"source_csv": "binary"}, "validate_params", "is a binary file"),
        ({"topic": "-players"}, None, "Invalid input for param topic"),
        ({"trigger": "processingTime", "interval_seconds": 5, "run_seconds": 2}, "validate_params", "one batch"),
        ({"hdfs_dir": "../../tmp/elsewhere"}, "validate_params", "'..' part"),
        ({"kafka_conn_id": "kafka_secure_admin"}, "validate_params", "not a connection write_to_kafka's job role"),
    ],
)
def test_bad_params_fail_with_a_clear_error_before_spark_starts(
    target, bad_inputs, kafka_config, change, failed_task, message
):
    conf = {"source_csv": str(DEFAULT_PLAYERS_CSV), **target, **change}
    if conf["source_csv"] in bad_inputs:
        conf["source_csv"] = bad_inputs[conf["source_csv"]]
    run = run_dag("write_to_kafka", conf)
    assert not run.ok
    assert message in run.output, run.tail()
    assert "Spark-Submit cmd" not in run.output
    if failed_task:
        states = run.task_states()
        assert states[failed_task] == "failed", states
        assert states["submit_write_job"] in ("upstream_failed", None), states
    if failed_task == "validate_params":
        assert topics_named(kafka_config, conf["topic"]) == set()
        # refused params fail at once: the DAG's retry (after its delay) would only refuse them again
        assert run.output.count("Task failed with exception") == 1, run.tail()


def test_an_hdfs_dir_that_is_a_file_is_refused_before_any_topic_exists(target, hdfs, kafka_config):
    hdfs.write(target["hdfs_dir"], data=b"I am a file", overwrite=True)
    run = run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target})
    assert not run.ok
    assert "exists and is a file, not a directory" in run.output, run.tail()
    assert run.task_states()["validate_params"] == "failed"
    assert topics_named(kafka_config, target["topic"]) == set()


def topics_named(kafka_config: dict, topic: str) -> set[str]:
    """Which of ``topic`` and its dead-letter topic exist on the broker."""
    existing = AdminClient(kafka_config).list_topics(timeout=10).topics
    return {name for name in (topic, f"{topic}.dlq") if name in existing}


def test_the_stacks_secrets_file_as_source_csv_is_refused_before_any_topic_path_or_message_exists(
    target, hdfs, kafka_config
):
    """A trigger can't make the run ingest a file the deployment did not allow: the local stack's secrets file
    (Kafka's passwords) would otherwise land, line by line, in the dead-letter topic and on HDFS."""
    from devstack import nodes, secure

    secrets = secure.secrets_file(nodes.stack_dir())
    assert secrets.is_file(), f"no secrets file at {secrets}: is the stack up with SECURE=1?"
    run = run_dag("write_to_kafka", {"source_csv": str(secrets), **target})
    assert not run.ok
    assert "source_csv" in run.output and "refused" in run.output, run.tail()
    states = run.task_states()
    assert states["validate_params"] == "failed", states
    assert all(states[task] in ("upstream_failed", None) for task in states if task != "validate_params"), states
    assert topics_named(kafka_config, target["topic"]) == set()  # no topic, so no message in either
    checkpoint = checkpoint_for(hdfs_user(), "write_to_kafka", target["topic"], target["hdfs_dir"])
    for path in (target["hdfs_dir"].rsplit("/", 1)[0], checkpoint):
        assert hdfs.status(path, strict=False) is None, f"{path} exists on HDFS"
    password = json.loads(secrets.read_text())
    leaked = [v for v in _strings(password) if len(v) >= 8 and v in run.output]
    assert not leaked, "a secret from the file is in the run's output"


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("char", [" ", "%", "#", "[", "]"])
def test_a_bad_row_in_an_hdfs_dir_with_a_special_character_is_dead_lettered_naming_its_file(
    char, unique, cleanup_topics, cleanup_hdfs, tmp_path
):
    """Spark's source log and _metadata.file_path name the file as a URI (a space is %20); the job's dead
    letters and the verification's expected ones both name it decoded, and a '[' in the folder is escaped in
    the job's --source-dir (a Hadoop glob)."""
    topic = f"chars-{unique}"
    home = f"/user/{hdfs_user()}/it-{unique}"
    hdfs_dir = f"{home}/la{char}nd{char}ing"
    for name in (topic, f"{topic}.dlq"):
        cleanup_topics(name)
    cleanup_hdfs(home)
    cleanup_hdfs(checkpoint_for(hdfs_user(), "write_to_kafka", topic, hdfs_dir))
    source = tmp_path / "one_bad.csv"
    source.write_text("name;age\nAnn;12\nBo;abc\n")
    run = run_dag("write_to_kafka", {"source_csv": str(source), "topic": topic, "hdfs_dir": hdfs_dir})
    assert run.ok, run.tail()
    assert kv(topic) == [("Ann", "12")]
    letters = [json.loads(v) for _, v, _, _ in consume_all(f"{topic}.dlq")]
    assert [(d["line"], d["raw"], d["reason"]) for d in letters] == [(3, "Bo;abc", "age is not an integer: 'abc'")]
    file = letters[0]["file"]
    assert file.startswith("hdfs://") and f"{hdfs_dir}/one_bad-" in file, file


def test_an_existing_topic_with_another_partition_count_is_an_error(target, kafka_config):
    admin = AdminClient(kafka_config)
    admin.create_topics([NewTopic(target["topic"], 2, 1)])[target["topic"]].result(timeout=30)
    run = run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target, "partitions": 1})
    assert not run.ok
    assert "already exists with 2 partition(s), not 1" in run.output, run.tail()
    assert "Spark-Submit cmd" not in run.output


def test_an_empty_csv_succeeds_with_no_messages(target, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    run = run_dag("write_to_kafka", {"source_csv": str(empty), **target})
    assert run.ok, run.tail()
    assert kv(target["topic"]) == []


def test_a_csv_larger_than_the_driver_heap_would_hold_arrives_whole_with_exact_lines_and_key_order(target, tmp_path):
    # ~96 MB, 4M lines: read whole into memory (as the job once did), this ran the 1 GB driver out of heap
    lines = 4_000_000
    bad = {2: "Bo;abc", 1_999_999: "Cy;1;2", 3_999_998: ";40"}  # one per region of the file, across its splits
    repeated = "Zoë Repeated"  # one key every 100,000 lines: Kafka must get its values in file order
    source = tmp_path / "large.csv"
    with source.open("w", encoding="utf-8") as out:
        for n in range(1, lines + 1):
            if n in bad:
                out.write(bad[n] + "\n")
            elif n % 100_000 == 0:
                out.write(f"{repeated};{n // 100_000}\n")
            else:
                out.write(f"Player {n:07d} Ñandú;{n % 151}\n")
    run = run_dag("write_to_kafka", {"source_csv": str(source), **target})
    assert run.ok, run.tail()
    assert f"rows in={lines} valid={lines - len(bad)} dead-lettered={len(bad)}" in run.output

    arrived = consume_all(target["topic"], timeout_s=300)
    assert len(arrived) == lines - len(bad)
    keys = {k for k, _, _, _ in arrived}
    want = {f"Player {n:07d} Ñandú".encode() for n in range(1, lines + 1) if n not in bad and n % 100_000}
    assert keys == want | {repeated.encode()}
    assert [v.decode() for k, v, _, _ in arrived if k == repeated.encode()] == [str(i) for i in range(1, 41)]
    assert all(v == str(int(k[7:14]) % 151).encode() for k, v, _, _ in arrived if k != repeated.encode())
    letters = [json.loads(v) for _, v, _, _ in consume_all(f"{target['topic']}.dlq")]
    assert sorted((d["line"], d["raw"]) for d in letters) == sorted(bad.items())
