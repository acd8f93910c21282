"""Shared fixtures. Integration tests talk to the real stack started by `make up`; they fail (never skip)
when it is down, with the command that fixes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = "localhost:9092"
WEBHDFS = "http://localhost:9870"
HDFS_URI = "hdfs://localhost:8020"


def hdfs_user() -> str:
    return os.environ.get("HADOOP_USER_NAME") or os.environ.get("USER") or "root"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def stack():
    down = [f"{name} (localhost:{port})" for name, port in (("Kafka", 9092), ("WebHDFS", 9870)) if not _port_open(port)]
    if down:
        pytest.fail(f"the stack is not running: {', '.join(down)} - run 'make up' (make test does it for you)")
    if "AIRFLOW_CONN_KAFKA_DEFAULT" not in os.environ:
        pytest.fail("the Airflow environment is not set - run the tests through 'make test'")


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test session, with the pre-resolved Kafka connector jars (no
    --packages, no network). One, because SparkSession.getOrCreate() would hand a second fixture the first
    fixture's session, with whatever jars that one had."""
    from pyspark.sql import SparkSession

    from include.spark_app import kafka_connector

    connector = kafka_connector()  # the DAGs' own: --jars from $SPARK_KAFKA_JARS_DIR, else --packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tests")
        .config("spark.jars" if "jars" in connector else "spark.jars.packages", *connector.values())
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def kafka_config(stack) -> dict[str, str]:
    return {"bootstrap.servers": BOOTSTRAP}


@pytest.fixture
def hdfs(stack):
    from hdfs import InsecureClient

    return InsecureClient(WEBHDFS, user=hdfs_user(), timeout=30)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topics and HDFS paths of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def cleanup_hdfs(hdfs):
    paths: list[str] = []
    yield paths.append
    for path in paths:
        hdfs.delete(path, recursive=True)


@pytest.fixture
def cleanup_topics(kafka_config):
    topics: list[str] = []
    yield topics.append
    if topics:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(kafka_config)
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


def spark_submit_jvms(marker: str) -> list[psutil.Process]:
    """The spark-submit driver JVMs whose command line contains ``marker`` (e.g. a test's unique topic)."""
    import psutil

    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "org.apache.spark.deploy.SparkSubmit" in cmd and marker in cmd:
            out.append(proc)
    return out


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


class DagRun:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float) -> None:
        self.returncode, self.output, self.seconds = proc.returncode, proc.stdout, seconds

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def task_states(self) -> dict[str, str]:
        """{task_id: state} of this run, from Airflow's own database (`airflow tasks states-for-dag-run`)."""
        match = re.search(r"DagRun Finished: dag_id=([^,]+), .*?run_id=([^,]+),", self.output)
        assert match, f"no finished DAG run in the output:\n{self.tail()}"
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "airflow"),
                "tasks",
                "states-for-dag-run",
                *match.groups(),
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = json.loads(proc.stdout[proc.stdout.index("[") :])
        return {row["task_id"]: row["state"] for row in rows}

    def tail(self, n: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def run_dag(dag_id: str, conf: dict, timeout_s: float = 600) -> DagRun:
    """`airflow dags test <dag_id> --conf <json>`, as `make run` does; returns its exit code and output."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "--conf", json.dumps(conf)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )
    run = DagRun(
        subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout + proc.stderr), time.monotonic() - start
    )
    log_dir = ROOT / ".airflow" / "test-runs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{dag_id}-{int(time.time() * 1000)}.log").write_text(run.output)
    return run


class BackgroundDagRun:
    """`airflow dags test` started in the background. Its output goes to a file, not a pipe: a pipe nobody
    reads fills up and blocks the run."""

    def __init__(self, dag_id: str, conf: dict, env: dict | None = None) -> None:
        log_dir = ROOT / ".airflow" / "test-runs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"{dag_id}-{int(time.time() * 1000)}-bg.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "--conf", json.dumps(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
            )

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout_s: float = 600) -> DagRun:
        start = time.monotonic()
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        output = self.log.read_text(errors="replace")
        return DagRun(
            subprocess.CompletedProcess(self.proc.args, self.proc.returncode, output), time.monotonic() - start
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
