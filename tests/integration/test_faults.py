"""Faults on real processes: a real `kill -9`, a really stopped DataNode, a checkpoint really misused.
Each ends in a clear error and loses nothing."""

from __future__ import annotations

import calendar
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Consumer, TopicPartition

from devstack.engine import Stack
from include.config import DEFAULT_PLAYERS_CSV
from include.plans import checkpoint_for
from include.spark_app import application, jobs_archive, kafka_connector
from tests.support.airflow import BackgroundDagRun, DagRun, run_dag, verification
from tests.support.archive import archive_rows
from tests.support.kafka import consume_all, new_read_target, produce_records
from tests.support.spark import DriverMonitor, processes_naming, spark_submit_jvms
from tests.support.stack import BOOTSTRAP, HDFS_URI, hdfs_user

pytestmark = pytest.mark.integration


def high_watermark(topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "fault-probe"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)[1]
    except Exception:  # noqa: BLE001 - the topic may not exist yet
        return 0
    finally:
        consumer.close()


def listing(hdfs, directory: str) -> list[str]:
    return hdfs.list(directory) if hdfs.status(directory, strict=False) else []


def big_csv(path: Path, rows: int) -> list[tuple[str, str]]:
    players = [(f"Player {i:07d} Ñandú", str(i % 151)) for i in range(rows)]
    path.write_text("".join(f"{n};{a}\n" for n, a in players) + "bad;row;here\n")
    return players


def every_player_arrived_and_each_copy_is_reported(topic: str, players: list, output: str) -> int:
    """An independent consumer finds every player and nothing else; the run's reported duplicates are the
    copies it counts. Returns that count."""
    arrived = [(k.decode(), v.decode()) for k, v, _, _ in consume_all(topic, timeout_s=180)]
    assert set(arrived) == set(players), "a valid row was lost or an unexpected one arrived"
    dead = [(k, v) for k, v, _, _ in consume_all(f"{topic}.dlq", timeout_s=180)]
    verified = verification(output)
    assert verified["missing"] == 0
    # copies of dead letters count too (a killed job may have written its batch's whole dead-letter share)
    assert verified["duplicates"] == len(arrived) - len(players) + len(dead) - len(set(dead))
    return verified["duplicates"]


def test_write_job_killed_mid_write_recovers_on_retry_with_nothing_lost(target, tmp_path):
    rows = 300_000
    players = big_csv(tmp_path / "big.csv", rows)
    conf = {"source_csv": str(tmp_path / "big.csv"), **target}
    bg = BackgroundDagRun("write_to_kafka", conf)
    killed_at = None
    try:
        deadline = time.monotonic() + 240
        while killed_at is None:
            assert bg.running(), "the run ended before the job could be killed"
            assert time.monotonic() < deadline, "the write job never started writing"
            jvms = spark_submit_jvms(target["topic"])
            if jvms and high_watermark(target["topic"]) > 0:
                killed_at = high_watermark(target["topic"])
                for jvm in jvms:
                    os.kill(jvm.pid, signal.SIGKILL)
            time.sleep(0.05)
        result = bg.wait(600)
    finally:
        bg.kill()
    output = result.output
    assert "Error code is: -9" in output or "Error code is: 137" in output, output[-5000:]
    assert result.returncode == 0, output[-8000:]
    duplicates = every_player_arrived_and_each_copy_is_reported(target["topic"], players, output)
    print(f"killed after {killed_at} of {rows} messages; {duplicates} duplicates reported")


@pytest.mark.long
def test_copies_written_by_failed_attempts_are_counted_by_the_run_that_finally_succeeds(target, tmp_path):
    # both attempts of the job are SIGKILLed once they have written part of the batch: the run fails; the next
    # run writes the batch again and must count every copy the failed attempts left (an independent consumer)
    rows = 300_000
    players = big_csv(tmp_path / "big.csv", rows)
    conf = {"source_csv": str(tmp_path / "big.csv"), **target}
    bg = BackgroundDagRun("write_to_kafka", conf)
    killed: set[int] = set()
    written_at_kill = 0
    try:
        deadline = time.monotonic() + 400
        while len(killed) < 2 and bg.running():
            assert time.monotonic() < deadline, f"the write job was killed {len(killed)} time(s) only"
            jvms = [j for j in spark_submit_jvms(target["topic"]) if j.pid not in killed]
            written = high_watermark(target["topic"])
            if jvms and written > written_at_kill + 1000:  # this attempt has written
                for jvm in jvms:
                    os.kill(jvm.pid, signal.SIGKILL)
                    killed.add(jvm.pid)
                psutil.wait_procs(jvms, timeout=10)
                # what the killed attempt left, not what it had written when measured: its last sends land after
                # that, and would otherwise pass for the next attempt's writes (killing it while it starts)
                written_at_kill = high_watermark(target["topic"])
            time.sleep(0.05)
        failed = bg.wait(600)
    finally:
        bg.kill()
    assert len(killed) == 2, f"killed {len(killed)} attempt(s): {failed.output[-3000:]}"
    assert failed.returncode != 0, failed.output[-5000:]
    before_green = high_watermark(target["topic"])
    assert before_green > 0

    green = run_dag("write_to_kafka", conf)
    assert green.ok, green.tail()
    assert "planned by a job that did not finish" in green.output
    duplicates = every_player_arrived_and_each_copy_is_reported(target["topic"], players, green.output)
    assert duplicates > 0
    print(f"{before_green} messages left by two killed attempts; {duplicates} duplicates reported")


def test_datanode_dying_during_ingestion_leaves_nothing_visible_and_a_rerun_succeeds(target, hdfs, tmp_path):
    source = tmp_path / "large.csv"
    source.write_bytes(b"Someone;30\n" * 16_000_000)  # ~176 MB: the upload takes a while
    conf = {"source_csv": str(source), **target}
    bg = BackgroundDagRun("write_to_kafka", conf)
    stack = Stack("single")
    try:
        deadline = time.monotonic() + 120
        while not any(n.endswith("._COPYING_") for n in listing(hdfs, target["hdfs_dir"])):
            assert time.monotonic() < deadline and bg.running(), "the upload never started"
            time.sleep(0.05)
        os.kill(stack.pid("datanode"), signal.SIGKILL)
        result = bg.wait(300)
    finally:
        bg.kill()
        stack.up(["datanode"])
    output = result.output
    assert result.returncode != 0
    assert "ingest_players_csv" in output
    assert "Spark-Submit cmd" not in output
    visible = [n for n in listing(hdfs, target["hdfs_dir"]) if not n.startswith(".")]
    assert visible == [], f"a partial file is visible in {target['hdfs_dir']}: {visible}"

    small = tmp_path / "small.csv"
    small.write_text("Ann;12\nBo;40\n")
    run = run_dag("write_to_kafka", {**conf, "source_csv": str(small)})
    assert run.ok, run.tail()
    assert sorted((k, v) for k, v, _, _ in consume_all(target["topic"])) == [(b"Ann", b"12"), (b"Bo", b"40")]


def test_a_checkpoint_reused_for_another_topic_is_refused_with_an_explanation(target, tmp_path):
    run = run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target})
    assert run.ok, run.tail()
    checkpoint = checkpoint_for(hdfs_user(), "write_to_kafka", target["topic"], target["hdfs_dir"])
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "spark-submit"),
            "--master",
            "local[1]",
            *(f"--{option}={value}" for option, value in kafka_connector().items()),
            "--py-files",
            str(jobs_archive()),
            application("write_to_kafka"),
            "--source-dir",
            f"{HDFS_URI}{target['hdfs_dir']}",
            "--topic",
            f"{target['topic']}-other",
            "--bootstrap-servers",
            BOOTSTRAP,
            "--checkpoint",
            f"{HDFS_URI}{checkpoint}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode != 0
    assert f"checkpoint {HDFS_URI}{checkpoint} belongs to another query" in proc.stderr + proc.stdout
    assert "use this query's own checkpoint" in proc.stderr + proc.stdout


def _log_time(output: str, marker: str) -> float | None:
    """The timestamp (epoch seconds) of the first log line containing ``marker``."""
    for line in output.splitlines():
        if marker in line and line[:4].isdigit():
            stamp = line.split(" ", 1)[0].split(".")[0]
            return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    return None


def kill_broker_when(bg: BackgroundDagRun, ready: Callable[[], bool], never_ready: str) -> tuple[DagRun, float]:
    """Once ``ready()`` (within 240 s), SIGKILL the broker and wait for the DAG run ``bg`` to end. The broker is
    started again whatever happens. Returns the run's result and the time the broker died."""
    stack = Stack("single")
    try:
        deadline = time.monotonic() + 240
        while not ready():
            assert bg.running() and time.monotonic() < deadline, never_ready
            time.sleep(0.05)
        os.kill(stack.pid("kafka"), signal.SIGKILL)
        stopped_at = time.time()
        return bg.wait(600), stopped_at
    finally:
        bg.kill()
        stack.up(["kafka"])


def assert_failed_fast_naming_the_broker(result: DagRun, stopped_at: float) -> None:
    """The run failed (its task up for retry) within 120 s of the broker's death, with an error naming it."""
    assert result.returncode != 0, "the run succeeded: the broker died too late to test anything"
    assert f"Kafka broker(s) {BOOTSTRAP}" in result.output, result.output[-5000:]
    failed_at = _log_time(result.output, "new_state=up_for_retry")
    assert failed_at is not None and failed_at - stopped_at < 120, (failed_at, stopped_at)


@pytest.mark.long
def test_broker_stopped_mid_write_fails_fast_naming_it_and_a_rerun_loses_nothing(target, tmp_path):
    rows = 300_000
    players = big_csv(tmp_path / "big.csv", rows)
    conf = {"source_csv": str(tmp_path / "big.csv"), **target}
    result, stopped_at = kill_broker_when(
        BackgroundDagRun("write_to_kafka", conf),
        lambda: bool(spark_submit_jvms(target["topic"])) and high_watermark(target["topic"]) > 0,
        "the write job never started writing",
    )
    assert_failed_fast_naming_the_broker(result, stopped_at)

    run = run_dag("write_to_kafka", conf)
    assert run.ok, run.tail()
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"], timeout_s=180)}
    assert arrived == set(players)


def test_hostile_rows_go_to_the_dead_letter_topic_and_the_job_survives(target, tmp_path):
    good = [("Ann", "12"), ("Bo", "40")]
    source = tmp_path / "hostile.csv"
    with source.open("wb") as out:
        out.write(b"Ann;12\n")
        out.write(b"x" * 1_000_000 + b";5\n")  # a 1 MB "name": too long for a Kafka key
        out.write(b"y" * 1_000_000 + b"\n")  # a 1 MB line
        out.write(b"\x00" * 1000 + b"\n")  # a line of NUL bytes
        out.writelines(f"bad row {i}\n".encode() for i in range(100_000))  # 100k bad rows in a row
        out.write(b"Bo;40\n")
    bg = BackgroundDagRun("write_to_kafka", {"source_csv": str(source), **target})
    peak = 0
    while bg.running():
        for jvm in spark_submit_jvms(target["topic"]):
            try:
                peak = max(peak, jvm.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)
    result = bg.wait()
    output = result.output
    assert result.returncode == 0, output[-8000:]
    assert sorted((k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"])) == good
    letters = [json.loads(v) for _, v, _, _ in consume_all(f"{target['topic']}.dlq", timeout_s=120)]
    assert len(letters) == 100_003
    by_line = {d["line"]: d for d in letters}
    assert by_line[2]["reason"] == "name too long: 1000000 characters (max 1024)"
    assert by_line[2]["truncated"] is True and len(by_line[2]["raw"]) == 65_536
    assert by_line[3]["reason"] == "expected 2 fields, got 1" and by_line[3]["truncated"] is True
    assert (by_line[4]["raw"], by_line[4]["reason"], by_line[4]["truncated"]) == (
        "\x00" * 1000,
        "expected 2 fields, got 1",
        False,
    )
    assert by_line[100_004]["raw"] == "bad row 99999"
    assert "rows in=100005 valid=2 dead-lettered=100003" in output
    assert 0 < peak < 2 * 1024**3, f"driver JVM peaked at {peak / 1024**2:.0f} MB"


def test_read_job_killed_mid_stream_recovers_and_the_archive_holds_each_message_once(
    unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    topic = f"faults-read-{unique}"
    output_dir, checkpoint = new_read_target(topic, kafka_config, 2, 1, cleanup_topics, cleanup_hdfs)
    total = 300_000
    produce_records(
        ((topic, f"k{i}".encode(), f"message {i}".encode(), i % 2) for i in range(total)), {"linger.ms": 50}
    )

    bg = BackgroundDagRun("read_from_kafka", {"topic": topic, "output_dir": output_dir})
    try:
        deadline = time.monotonic() + 240
        while hdfs.status(f"{checkpoint}/archive/offsets/0", strict=False) is None:
            assert bg.running() and time.monotonic() < deadline, "the read job never planned a batch"
            time.sleep(0.05)
        for jvm in spark_submit_jvms(topic):
            os.kill(jvm.pid, signal.SIGKILL)
        # before the retry (15 s later): a directory reader sees the one batch whole or not at all
        killed = archive_rows(hdfs, output_dir, tmp_path / "killed") if hdfs.status(output_dir, strict=False) else []
        assert len(killed) in (0, total) and len({r[:2] for r in killed}) == len(killed), len(killed)
        result = bg.wait(600)
    finally:
        bg.kill()
    output = result.output
    assert "Error code is: -9" in output or "Error code is: 137" in output, output[-5000:]
    assert result.returncode == 0, output[-8000:]
    rows = archive_rows(hdfs, output_dir, tmp_path / "after")
    assert len(rows) == total and len({r[:2] for r in rows}) == total


@pytest.mark.long
def test_a_hanging_job_is_killed_by_the_task_timeout_and_leaves_no_spark_process(target):
    # validate_params refuses a run_seconds that does not fit the timeout (less 2 minutes for Spark to start):
    # the job is planned to end in time, and made to hang by stopping its JVM (SIGSTOP), in each attempt
    conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **target,
        "trigger": "processingTime",
        "interval_seconds": 5,
        "run_seconds": 5,
    }
    bg = BackgroundDagRun("write_to_kafka", conf, env={"SPARK_JOB_TIMEOUT_MINUTES": "2.1"})
    seen: set[int] = set()
    while bg.running():
        for jvm in spark_submit_jvms(target["topic"]):
            if jvm.pid not in seen:
                seen.add(jvm.pid)
                try:
                    jvm.suspend()
                except psutil.NoSuchProcess:
                    pass
        time.sleep(0.5)
    result = bg.wait()
    output = result.output
    assert result.returncode != 0
    assert "AirflowTaskTimeout" in output or "Timeout" in output, output[-5000:]
    assert seen, "the Spark job never started"
    time.sleep(5)
    leftovers = processes_naming(target["topic"])
    assert leftovers == [], f"processes left behind: {leftovers}"


def test_a_topic_deleted_and_recreated_between_reads_is_reported_and_handled(
    unique, kafka_config, cleanup_topics, cleanup_hdfs, spark_with_kafka
):
    from confluent_kafka.admin import AdminClient, NewTopic

    topic, output_dir = f"recreated-{unique}", f"/user/{hdfs_user()}/it-{unique}/archive"
    cleanup_topics(topic)
    cleanup_hdfs(f"/user/{hdfs_user()}/it-{unique}")
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", topic, output_dir))
    admin = AdminClient(kafka_config)
    conf = {"topic": topic, "output_dir": output_dir}

    def produce(*values: str) -> None:
        produce_records((topic, None, value.encode(), None) for value in values)

    def archived() -> list[tuple]:
        rows = spark_with_kafka.read.parquet(f"{HDFS_URI}{output_dir}").collect()
        return sorted((r.topic_id, r.offset, r.value) for r in rows)

    first = run_dag("read_from_kafka", {**conf, "messages": ["a", "b", "c"]})
    assert first.ok, first.tail()
    old_rows = archived()
    assert [r[2] for r in old_rows] == [b"a", b"b", b"c"]

    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
            break
        except Exception:  # noqa: BLE001 - the deletion is still being applied
            assert time.monotonic() < deadline, "could not recreate the topic"
            time.sleep(1)
    produce("x", "y")

    strict = run_dag("read_from_kafka", {**conf, "fail_on_data_loss": True})
    assert not strict.ok
    assert "was deleted and recreated" in strict.output, strict.tail()
    assert "Failing because fail_on_data_loss is set" in strict.output
    assert "Spark-Submit cmd" not in strict.output

    lenient = run_dag("read_from_kafka", {**conf, "fail_on_data_loss": False})
    assert lenient.ok, lenient.tail()
    assert "was deleted and recreated" in lenient.output
    assert "offsets 0..1 will not be read by this query" in lenient.output

    produce("z")
    later = run_dag("read_from_kafka", conf)
    assert later.ok, later.tail()
    rows = archived()
    new_rows = [r for r in rows if r[0] != old_rows[0][0]]
    assert [r[1:] for r in new_rows] == [(2, b"z")]  # x and y were lost with the old checkpoint's position
    assert [r for r in rows if r[0] == old_rows[0][0]] == old_rows


@pytest.mark.long
def test_broker_stopped_mid_read_fails_fast_naming_it_and_a_rerun_archives_each_message_once(
    unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    topic = f"faults-rdown-{unique}"
    output_dir, checkpoint = new_read_target(topic, kafka_config, 1, 1, cleanup_topics, cleanup_hdfs)
    total = 1_000_000  # one large first batch: the broker dies while it is being read
    produce_records(((topic, None, f"message {i}".encode(), None) for i in range(total)), {"linger.ms": 50})

    result, stopped_at = kill_broker_when(
        BackgroundDagRun("read_from_kafka", {"topic": topic, "output_dir": output_dir}),
        lambda: hdfs.status(f"{checkpoint}/archive/offsets/0", strict=False) is not None,
        "the read job never planned a batch",
    )
    assert_failed_fast_naming_the_broker(result, stopped_at)
    rerun = run_dag("read_from_kafka", {"topic": topic, "output_dir": output_dir})
    assert rerun.ok, rerun.tail()
    rows = archive_rows(hdfs, output_dir, tmp_path / "after")
    assert len(rows) == total and len({r[:2] for r in rows}) == total


def second_airflow_home(path: Path) -> dict[str, str]:
    """The environment of `make run` with another AIRFLOW_HOME: another metadata database, as `make ui` has."""
    env = {**os.environ, "AIRFLOW_HOME": str(path)}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return {"AIRFLOW_HOME": str(path)}


def ended(proc: psutil.Process, within_s: float) -> bool:
    """Whether ``proc`` exits within ``within_s``: gone, or a zombie (an orphan's exit is reaped by whoever
    adopted it, when that one gets to it)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_two_runs_of_one_query_from_two_airflow_databases_never_run_two_drivers(target, tmp_path):
    # max_active_runs=1 holds within one metadata database only: the checkpoint's lease makes the second run's
    # job wait for the first's, whatever database each run is in
    players = big_csv(tmp_path / "players.csv", 50_000)
    conf = {"source_csv": str(tmp_path / "players.csv"), **target}
    env_b = second_airflow_home(tmp_path / "airflow-b")
    with DriverMonitor(target["topic"]) as drivers:
        first = BackgroundDagRun("write_to_kafka", {**conf, "trigger": "processingTime", "run_seconds": 20})
        try:
            deadline = time.monotonic() + 180
            while not spark_submit_jvms(target["topic"]):
                assert first.running(), first.log.read_text()[-5000:]
                assert time.monotonic() < deadline, "the first run's driver never started"
                time.sleep(0.2)
            second = run_dag("write_to_kafka", conf, env=env_b)
            first_result = first.wait(300)
        finally:
            first.kill()
    assert first_result.ok, first_result.tail()
    assert second.ok, second.tail()
    assert drivers.most_at_once == 1 and len(drivers.seen) == 2, (drivers.most_at_once, drivers.described)
    assert "waiting (up to" in second.output and f"pid {first.proc.pid}" in second.output, second.tail()
    assert every_player_arrived_and_each_copy_is_reported(target["topic"], players, first_result.output) == 0
    second_verified = verification(second.output)
    assert second_verified["missing"] == 0 and second_verified["duplicates"] == 0


@pytest.mark.long
def test_task_runner_killed_alone_leaves_an_orphan_driver_that_stops_before_the_retry_starts(target, tmp_path):
    # the OOM killer takes the task runner (here the `airflow dags test` process, which runs the task in process)
    # and not its spark-submit: the orphan driver sees the lease's heartbeat stop and exits within the ttl; the
    # retry takes the stale lease over only at twice the ttl, and counts the copies the orphan wrote
    ttl = 2
    env = {"LEASE_TTL_SECONDS": str(ttl)}
    # Kafka takes ~300k of these rows a second here: the batch must still be writing when the orphan stops, at
    # most 1.5 * ttl after the kill (at 2/3 * ttl at the earliest: its heartbeat was at most ttl/3 old)
    rows = 2_000_000
    players = big_csv(tmp_path / "big.csv", rows)
    conf = {"source_csv": str(tmp_path / "big.csv"), **target}
    with DriverMonitor(target["topic"]) as drivers:
        bg = BackgroundDagRun("write_to_kafka", conf, env=env)
        try:
            deadline = time.monotonic() + 240
            orphan = None
            while orphan is None:
                assert bg.running(), "the run ended before its task runner could be killed"
                assert time.monotonic() < deadline, "the write job never started writing"
                jvms = spark_submit_jvms(target["topic"])
                if jvms and high_watermark(target["topic"]) > 0:
                    orphan = jvms[0]
                    killed_at = high_watermark(target["topic"])
                    runner = orphan.parent()
                    assert runner.pid == bg.proc.pid, f"spark-submit's parent is {runner.cmdline()}"
                    os.kill(runner.pid, signal.SIGKILL)
                    killed = time.monotonic()
                time.sleep(0.05)
            bg.wait(30)
            assert orphan.is_running(), "the driver died with its task runner: nothing left to test"
            assert ended(orphan, within_s=2 * ttl), f"the orphan driver still runs {2 * ttl} s after the kill"
            stopped_after = time.monotonic() - killed
            written = (killed_at, high_watermark(target["topic"]))
            retry = run_dag("write_to_kafka", conf, env=env)
        finally:
            bg.kill()
    # its last heartbeat was at most ttl/3 old at the kill: the watchdog, not the kill, stopped it
    assert 2 * ttl / 3 - 0.5 < stopped_after < 2 * ttl, stopped_after
    assert retry.ok, retry.tail()
    assert "took over stale lease" in retry.output, retry.tail()
    if written[1] < len(players):  # stopped mid-write, before its commit: the retry counts what it wrote
        assert "planned by a job that did not finish" in retry.output, retry.tail()
    assert drivers.most_at_once == 1 and len(drivers.seen) == 2, (drivers.most_at_once, drivers.described)
    duplicates = every_player_arrived_and_each_copy_is_reported(target["topic"], players, retry.output)
    print(
        f"orphan driver stopped {stopped_after:.1f} s after its task runner was killed; messages written at the kill "
        f"and when it stopped: {written}; {duplicates} duplicates"
    )
