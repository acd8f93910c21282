"""What the stages share: the run's context, the spark-submit commands the DAGs' operator builds, running a
job with its peak memory sampled, and reading its results back (batch progress, checkpoints, Kafka)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import posixpath
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench import players_data
from bench.sampler import PeakRss, spark_driver_jvm
from devstack import engine as services
from devstack.nodes import port
from include.config import PROJECT_ROOT, SPARK_CONF, SPARK_CONN_ID
from include.connections import Connections, HdfsSettings, KafkaSettings
from include.hdfs import archive as hdfs_archive
from include.hdfs.client import read_bytes
from include.kafka import admin, offsets, reader
from include.pipeline import read
from include.plans import ReadPlan, WritePlan
from include.spark_app import application, jobs_archive, kafka_connector

BENCH_DIR = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
RESULT_MARK = "BENCH_RESULT "
SUBPROCESS_TIMEOUT_S = 900
SEED = 20_260_501
SMALL_ROWS = 1_000  # the "small file" of the orchestration-overhead figure


def progress(stage: str, text: str) -> None:
    print(f"[bench {stage}] {text}", flush=True)


@dataclasses.dataclass
class Context:
    run_id: str
    rows: int
    work: Path
    kafka: KafkaSettings
    hdfs_settings: HdfsSettings
    hdfs: object
    dag_env: dict[str, str]
    topics: list[str] = dataclasses.field(default_factory=list)
    groups: list[str] = dataclasses.field(default_factory=list)
    hdfs_paths: list[str] = dataclasses.field(default_factory=list)
    results: dict = dataclasses.field(default_factory=dict)
    details: dict = dataclasses.field(default_factory=dict)
    errors: dict = dataclasses.field(default_factory=dict)
    big_csv: players_data.PlayersFile | None = None
    write_plan: WritePlan | None = None

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def connections(self) -> Connections:
        """The pipeline steps' connections: the stack this run measures, for every connection id."""
        return Connections(self.kafka, self.hdfs_settings)

    def name(self, suffix: str) -> str:
        """A topic or HDFS name unique to this run."""
        return f"{self.run_id}-{suffix}"

    def home(self, *parts: str) -> str:
        return posixpath.join("/user", self.hdfs_settings.user, self.run_id, *parts)

    def topic(self, suffix: str, partitions: int = 1) -> str:
        name = self.name(suffix)
        self.topics.append(name)
        admin.ensure_topic(self.kafka.config, name, partitions, 1)
        return name

    def track_plan(self, plan: WritePlan | ReadPlan) -> None:
        """Remember what a planned job will create: its topics and its checkpoint's per-topic directory."""
        for topic in (plan.topic, getattr(plan, "dlq_topic", None)):
            if topic is not None and topic not in self.topics:
                self.topics.append(topic)
        if posixpath.dirname(plan.checkpoint) not in self.hdfs_paths:
            self.hdfs_paths.append(posixpath.dirname(plan.checkpoint))


def kafka_tool(tool: str, args: list[str], timeout: float = SUBPROCESS_TIMEOUT_S) -> str:
    """One of Kafka's own CLI tools (through the local stack's CLI), its stdout; raises with its output on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "devstack", "kafka", tool, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed with exit code {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


def submit_command(
    application: str,
    name: str,
    application_args: list[str] | None = None,
    *,
    conf: dict | None = None,
    py_files: str | None = None,
    jars: str | None = None,
    packages: str | None = None,
) -> list[str]:
    """The spark-submit command, built by SparkSubmitOperator's own hook from the spark_default connection. On YARN
    in cluster deploy mode, KafkaSparkSubmitOperator follows the application through the ResourceManager
    (``yarn_track_via_rm_api``, which makes the hook add ``spark.yarn.submit.waitAppCompletion=false``; it adds
    nothing elsewhere)."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    hook = SparkSubmitHook(
        conf=SPARK_CONF if conf is None else conf,
        conn_id=SPARK_CONN_ID,
        py_files=py_files,
        jars=jars,
        packages=packages,
        name=name,
        application_args=application_args,
        yarn_track_via_rm_api=True,
    )
    return hook._build_spark_submit_command(application)


def read_plan(ctx: Context, params: dict) -> tuple[ReadPlan, read.ReadRecord]:
    """read_from_kafka's plan and record as its DAG makes them: the pipeline's plan (validate_params), then
    record_offsets, whose spark_args are the job's arguments (the plan's and the topic's id)."""
    plan = read.plan(params, ctx.connections)
    ctx.track_plan(plan)
    return plan, read.record_offsets(plan, ctx.connections)


def dag_command(job: str, spark_args: list[str], name: str, extra_args: list[str] | None = None) -> list[str]:
    """What the DAG's KafkaSparkSubmitOperator runs for ``job`` with ``spark_args`` (plus ``extra_args``):
    the application, the jobs zip and the connector, as include/spark_app.py resolves them at execute time."""
    return submit_command(
        application(job),
        name,
        [*spark_args, *(extra_args or [])],
        py_files=str(jobs_archive()),
        **kafka_connector(),
    )


def broker_process() -> psutil.Process | None:
    """The process listening on the Kafka port (ours or another checkout's stack: whoever serves it)."""
    owner = services.port_owner(port("KAFKA_PORT", 9092)) or ""
    match = re.search(r"pid (\d+)", owner)
    try:
        return psutil.Process(int(match.group(1))) if match else None
    except psutil.Error:
        return None


@dataclasses.dataclass
class SubmitRun:
    seconds: float
    output: str
    log: Path
    driver_peak_rss_mb: float | None
    broker_peak_rss_mb: float | None


def run_sampled(
    what: str,
    command: list[str],
    log: Path,
    targets: Callable[[subprocess.Popen], Callable[[], dict[str, psutil.Process | None]]],
    env_extra: dict[str, str] | None = None,
    timeout: float = SUBPROCESS_TIMEOUT_S,
) -> tuple[float, str, dict[str, float]]:
    """Run ``command`` to its end, its output to ``log``, sampling the peak RSS of the processes
    ``targets(proc)()`` names; (wall seconds, output, peak MB by label). Raises naming ``what`` on failure."""
    env = {**os.environ, **(env_extra or {})}
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT)
        with PeakRss(targets(proc)) as rss:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{what} did not end within {timeout:.0f}s; log: {log}") from None
    seconds = time.monotonic() - started
    output = log.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"{what} failed with exit code {code}; log: {log}\n{output[-3000:]}")
    return seconds, output, rss.peak_mb


def run_submit(
    command: list[str], log: Path, env_extra: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT_S
) -> SubmitRun:
    """Run a spark-submit to its end, its output to ``log``; wall seconds and peak RSS of driver and broker."""
    broker = broker_process()

    def driver_and_broker(proc: subprocess.Popen) -> Callable[[], dict[str, psutil.Process | None]]:
        driver: list[psutil.Process] = []

        def targets() -> dict[str, psutil.Process | None]:
            if not driver:
                found = spark_driver_jvm(proc.pid)
                if found is not None:
                    driver.append(found)
            return {"driver": driver[0] if driver else None, "broker": broker}

        return targets

    seconds, output, peak = run_sampled("spark-submit", command, log, driver_and_broker, env_extra, timeout)
    return SubmitRun(seconds, output, log, peak.get("driver"), peak.get("broker"))


def result_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise RuntimeError(f"no {RESULT_MARK.strip()} line in the output:\n{output[-3000:]}")
    return lines[-1][len(RESULT_MARK) :]


def batch_progress_lines(output: str, query_prefix: str) -> list[dict]:
    """The job's per-micro-batch progress lines (jobs/streaming.py batch_progress) of one query."""
    found = []
    for line in output.splitlines():
        _, mark, payload = line.partition("batch progress: ")
        if mark:
            progress = json.loads(payload)
            if str(progress.get("query") or "").startswith(query_prefix):
                found.append(progress)
    return found


def add_batch_s(progress: list[dict]) -> float:
    """Seconds of Spark's addBatch (the batches' tasks) over the given batch progress lines."""
    return sum(p["durationMs"].get("addBatch", 0) for p in progress) / 1000


def mtimes_ms(hdfs, directory: str) -> dict[str, int]:
    """{name: modification time (ms, the NameNode's clock)} of the entries of an HDFS directory."""
    if hdfs.status(directory, strict=False) is None:
        return {}
    return {name: int(status["modificationTime"]) for name, status in hdfs.list(directory, status=True)}


def batch_span_ms(hdfs, checkpoint: str) -> tuple[int, int, int]:
    """(first batch planned, last batch committed, batches) from a query's checkpoint: ``offsets/0`` is
    written when batch 0 is planned, ``commits/N`` when batch N is done (NameNode times, ms)."""
    offsets = mtimes_ms(hdfs, posixpath.join(checkpoint, "offsets"))
    commits = {int(n): t for n, t in mtimes_ms(hdfs, posixpath.join(checkpoint, "commits")).items() if n.isdigit()}
    if "0" not in offsets or not commits:
        raise RuntimeError(f"no planned or committed batch in the checkpoint {checkpoint}")
    return offsets["0"], commits[max(commits)], len(commits)


def edge_timestamps(config: dict[str, str], topic: str) -> tuple[int, int, int]:
    """(records, first timestamp, last timestamp) of a topic: each partition's first and last record (ms)."""
    marks = offsets.watermarks(config, topic)
    count = sum(high - low for low, high in marks.values())
    firsts, lasts = [], []
    for partition, (low, high) in marks.items():
        if high <= low:
            continue
        for offset, out in ((low, firsts), (high - 1, lasts)):
            records = reader.read_range(config, topic, {partition: offset}, {partition: offset + 1}, 30)
            out += [r.timestamp_ms for r in records]
    if not firsts:
        raise RuntimeError(f"topic {topic} is empty")
    return count, min(firsts), max(lasts)


def parquet_rows(hdfs, path: str, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(read_bytes(hdfs, path)), columns=columns)


def timestamps_ms(column) -> list[int]:
    """A Parquet timestamp column (Spark writes instants, UTC-normalised) as epoch milliseconds."""
    import pyarrow as pa

    per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[column.type.unit]
    return [v * 1000 // per_s for v in column.cast(pa.int64()).to_pylist()]


def sink_row_count(hdfs, output_dir: str) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.ParquetFile(io.BytesIO(read_bytes(hdfs, path))).metadata.num_rows
        for path in hdfs_archive.all_files(hdfs, output_dir)
    )


def topic_read_plan(ctx: Context, output: str) -> tuple[ReadPlan, read.ReadRecord]:
    """The read job's plan for the topic the write stage filled, from its first offset, availableNow, into
    ``output`` (a directory name under the run's HDFS home)."""
    if ctx.write_plan is None:
        raise RuntimeError("the write stage did not run: no topic to read")
    params = {
        "topic": ctx.write_plan.topic,
        "output_dir": ctx.home(output),
        "starting_offsets": "earliest",
        "trigger": "availableNow",
    }
    return read_plan(ctx, params)


def producer_props(bootstrap: str) -> list[str]:
    """acks=all and the write job's own producer settings (batching, compression, idempotence, timeouts)."""
    from jobs.write_to_kafka import PRODUCER_OPTIONS

    props = {k.removeprefix("kafka."): v for k, v in PRODUCER_OPTIONS.items()}
    props["acks"] = "all"
    return [f"bootstrap.servers={bootstrap}", *(f"{k}={v}" for k, v in props.items())]


def perf_produce(ctx: Context, topic: str, records: int, record_size: int = 24) -> None:
    """``records`` messages of ``record_size`` random bytes into ``topic``, by Kafka's own perf producer (the
    fastest way to build a backlog; acks=all and the write job's producer settings)."""
    kafka_tool(
        "kafka-producer-perf-test",
        [
            *("--topic", topic, "--num-records", str(records), "--record-size", str(record_size)),
            *("--throughput", "-1", "--producer-props", *producer_props(ctx.bootstrap)),
        ],
        timeout=SUBPROCESS_TIMEOUT_S * 2,
    )


def produce_small(ctx: Context, topic: str, records: int) -> None:
    """A few numbered messages, from this process."""
    from confluent_kafka import Producer

    producer, errors = Producer(ctx.kafka.config), []
    for i in range(records):
        producer.produce(topic, f"message {i}".encode(), on_delivery=lambda err, _m: err and errors.append(err))
        producer.poll(0)
    if producer.flush(60) or errors:
        raise RuntimeError(f"could not produce {records} messages to {topic}: {errors[:3]}")


@dataclasses.dataclass
class TaskRun:
    seconds: float  # the task's call itself
    wall_s: float  # the process, imports included
    peak_rss_mb: float | None
    result: dict


def run_task(plan: ReadPlan | WritePlan, recorded, log: Path) -> TaskRun:
    """The plan's verification (read_from_kafka's verify_sink, write_to_kafka's verify_messages) in a process of
    its own (bench/task.py), as Airflow runs a task: its time and the process's peak RSS."""
    plan_file, record_file = log.with_suffix(".plan.json"), log.with_suffix(".record.json")
    plan_file.write_text(json.dumps(plan.to_dict()))
    record_file.write_text(json.dumps(recorded.to_dict()))
    task = "verify_write" if isinstance(plan, WritePlan) else "verify"
    command = [sys.executable, "-m", "bench.task", task, str(plan_file), str(record_file)]

    def the_task(proc: subprocess.Popen) -> Callable[[], dict[str, psutil.Process | None]]:
        task = psutil.Process(proc.pid)
        return lambda: {"task": task}

    wall, output, peak = run_sampled(task, command, log, the_task)
    result = json.loads(result_line(output))
    return TaskRun(result["seconds"], wall, peak.get("task"), result)


@dataclasses.dataclass
class ReadRun:
    rows: int  # what the run added to the archive (verified)
    plan: ReadPlan
    recorded: read.ReadRecord
    submit: SubmitRun
    verify: TaskRun
    record_s: float

    @property
    def run_s(self) -> float:
        """record_offsets + the job + verify_sink, the run's own tasks."""
        return self.record_s + self.submit.seconds + self.verify.wall_s


def read_once(ctx: Context, params: dict, log: Path) -> ReadRun:
    """One read_from_kafka run as the DAG makes it: plan, record_offsets, the job (spark-submit as the
    operator builds it), verify_sink in a process of its own."""
    plan = read.plan(params, ctx.connections)
    ctx.track_plan(plan)
    started = time.monotonic()
    recorded = read.record_offsets(plan, ctx.connections)
    record_s = time.monotonic() - started
    submit = run_submit(
        dag_command(plan.job, recorded.spark_args, "read_from_kafka"),
        log.with_suffix(".job.log"),
        {"HADOOP_USER_NAME": plan.hdfs_user},
    )
    verified = run_task(plan, recorded, log.with_suffix(".verify.log"))
    return ReadRun(verified.result["checked"], plan, recorded, submit, verified, record_s)
