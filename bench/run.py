"""`make bench`: the pipeline against Kafka's own perf tools, in one run, on the running stack.

Stages (a progress line each):
1. broker ceiling: kafka-producer-perf-test (acks=all, the write job's producer settings, record size = the
   average players row) and kafka-consumer-perf-test, on a fresh topic;
2. write job: a generated players CSV -> HDFS -> jobs/write_to_kafka.py (availableNow, the DAG's arguments)
   -> Kafka; 3. read job: that topic -> jobs/read_from_kafka.py --no-console -> Parquet on HDFS; 3b. read
   ceiling: the job's Kafka source alone -> Spark's noop sink, in a fresh spark-submit;
4. parse ceiling: the CSV -> the write job's parsing functions -> Spark's noop sink;
5. latency: a producer at a fixed rate -> the read job in processingTime mode -> per-record latency;
6. orchestration: `airflow dags test write_to_kafka` vs. the same steps without Airflow; spark-submit start
   with the pre-resolved --jars (no network) vs. --packages with a cold Ivy cache;
7. peak RSS of the Spark driver JVM and of the broker during 2 and 3.

Every spark-submit command is the one SparkSubmitOperator builds from include/run_plan.py's plan and
SPARK_CONF (the operator's own hook builds it), so the bench measures what the DAGs run. Everything the run
creates (topics, HDFS directories, checkpoints, local files) is unique to it and deleted at the end.
Results: bench/results/latest.{json,md,png}, a dated JSON copy, and docs/performance.md's generated part.

    python -m bench.run [--rows 2000000]        (make bench BENCH_ROWS=...)
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import platform
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench import players_data, report, stats
from bench.sampler import PeakRss, spark_driver_jvm
from devstack import engine as services
from devstack.nodes import port
from include import hdfs_files, kafka_topics, spark_metadata, verification
from include.connections import HdfsSettings, KafkaSettings
from include.run_plan import JOBS_DIR, PROJECT_ROOT, SPARK_CONF, plan_read, plan_write, spark_kafka_jars

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
RESULT_MARK = "BENCH_RESULT "
SUBPROCESS_TIMEOUT_S = 900

DEFAULT_ROWS = 2_000_000  # as the issue asks (~2M records); about 5 minutes on the shared 2-core machine
SEED = 20_260_501
SMALL_ROWS = 1_000  # the "small file" of the orchestration-overhead figure
LATENCY_RATE = 10_000  # records/s
LATENCY_SECONDS = 60  # measured
LATENCY_WARMUP_SECONDS = 10  # produced first, not counted (JIT, first Parquet writer, first fetches)
LATENCY_INTERVAL_S = 0.2  # processingTime trigger interval of the read job in the latency stage
LATENCY_PRIME_RECORDS = 20_000  # sent and committed before the timed producer starts (not counted)
LATENCY_DRAIN_S = 30  # every record must be committed within this after the producer ends
SUBMIT_START_RUNS = 3  # spark-submit start-ups timed with --jars; the figure is their median


def progress(stage: str, text: str) -> None:
    print(f"[bench {stage}] {text}", flush=True)


# ------------------------------------------------------------------------------------------ context


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
    write_plan: dict | None = None

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers

    def name(self, suffix: str) -> str:
        """A topic or HDFS name unique to this run."""
        return f"{self.run_id}-{suffix}"

    def home(self, *parts: str) -> str:
        return posixpath.join("/user", self.hdfs_settings.user, self.run_id, *parts)

    def topic(self, suffix: str, partitions: int = 1) -> str:
        name = self.name(suffix)
        self.topics.append(name)
        kafka_topics.ensure_topic(self.kafka.config, name, partitions, 1)
        return name

    def track_plan(self, plan: dict) -> None:
        """Remember what a planned job will create: its topics and its checkpoint's per-topic directory."""
        for key in ("topic", "dlq_topic"):
            if key in plan and plan[key] not in self.topics:
                self.topics.append(plan[key])
        self.hdfs_paths.append(posixpath.dirname(plan["checkpoint"]))


# ------------------------------------------------------------------------------------------ helpers


def kafka_tool(tool: str, args: list[str], timeout: float = SUBPROCESS_TIMEOUT_S) -> str:
    """One of Kafka's own CLI tools (through devstack), its stdout; raises with its output on failure."""
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
    """The spark-submit command, built by SparkSubmitOperator's own hook from the spark_default connection."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    hook = SparkSubmitHook(
        conf=SPARK_CONF if conf is None else conf,
        conn_id="spark_default",
        py_files=py_files,
        jars=jars,
        packages=packages,
        name=name,
        application_args=application_args,
    )
    return hook._build_spark_submit_command(application)


def read_plan(ctx: Context, params: dict) -> dict:
    """read_from_kafka's plan as its DAG makes it: plan_read (validate_params), then record_offsets, which adds
    the topic's id to the job's arguments."""
    plan = plan_read(params, ctx.kafka, ctx.hdfs_settings)
    ctx.track_plan(plan)
    recorded = verification.record_read_offsets(ctx.kafka.config, ctx.hdfs, plan)
    return {**plan, "job_args": recorded["job_args"]}


def dag_command(plan: dict, name: str, extra_args: list[str] | None = None) -> list[str]:
    """What the DAG's SparkSubmitOperator runs for ``plan`` (plus ``extra_args`` after the plan's own)."""
    return submit_command(
        plan["application"],
        name,
        [*plan["job_args"], *(extra_args or [])],
        py_files=plan["py_files"],
        jars=plan["jars"],
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


def run_submit(
    command: list[str], log: Path, env_extra: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT_S
) -> SubmitRun:
    """Run a spark-submit to its end, its output to ``log``; wall seconds and peak RSS of driver and broker."""
    env = {**os.environ, **(env_extra or {})}
    broker = broker_process()
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT)
        driver: list[psutil.Process] = []

        def targets() -> dict[str, psutil.Process | None]:
            if not driver:
                found = spark_driver_jvm(proc.pid)
                if found is not None:
                    driver.append(found)
            return {"driver": driver[0] if driver else None, "broker": broker}

        with PeakRss(targets) as rss:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"spark-submit did not end within {timeout:.0f}s; log: {log}") from None
    seconds = time.monotonic() - started
    output = log.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"spark-submit failed with exit code {code}; log: {log}\n{output[-3000:]}")
    return SubmitRun(seconds, output, log, rss.peak_mb.get("driver"), rss.peak_mb.get("broker"))


def result_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise RuntimeError(f"no {RESULT_MARK.strip()} line in the output:\n{output[-3000:]}")
    return lines[-1][len(RESULT_MARK) :]


def batch_progress_lines(output: str, query_prefix: str) -> list[dict]:
    """The job's per-micro-batch progress lines (jobs/spark_streaming.py batch_progress) of one query."""
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
    marks = kafka_topics.watermarks(config, topic)
    count = sum(high - low for low, high in marks.values())
    firsts, lasts = [], []
    for partition, (low, high) in marks.items():
        if high <= low:
            continue
        for offset, out in ((low, firsts), (high - 1, lasts)):
            records = kafka_topics.read_range(config, topic, {partition: offset}, {partition: offset + 1}, 30)
            out += [r.timestamp_ms for r in records]
    if not firsts:
        raise RuntimeError(f"topic {topic} is empty")
    return count, min(firsts), max(lasts)


def parquet_rows(hdfs, path: str, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(hdfs_files.read_bytes(hdfs, path)), columns=columns)


def timestamps_ms(column) -> list[int]:
    """A Parquet timestamp column (Spark writes instants, UTC-normalised) as epoch milliseconds."""
    import pyarrow as pa

    per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[column.type.unit]
    return [v * 1000 // per_s for v in column.cast(pa.int64()).to_pylist()]


def sink_row_count(hdfs, output_dir: str) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.ParquetFile(io.BytesIO(hdfs_files.read_bytes(hdfs, path))).metadata.num_rows
        for path in spark_metadata.sink_files(hdfs, output_dir)
    )


# ------------------------------------------------------------------------------------------- stages


def stage_prepare(ctx: Context) -> str:
    started = time.monotonic()
    ctx.big_csv = players_data.write_csv(ctx.work / "players.csv", ctx.rows, SEED)
    generated = time.monotonic() - started
    ctx.details["data"] = {
        "rows": ctx.big_csv.rows,
        "bytes": ctx.big_csv.bytes,
        "avg_row_bytes": round(ctx.big_csv.avg_row_bytes, 2),
        "seed": SEED,
        "generate_s": round(generated, 2),
    }
    return f"{ctx.rows:,} rows, {ctx.big_csv.bytes / 1e6:.1f} MB, {ctx.big_csv.avg_row_bytes:.1f} bytes/row"


def producer_props(bootstrap: str) -> list[str]:
    """acks=all and the write job's own producer settings (batching, compression, idempotence, timeouts)."""
    sys.path.insert(0, str(JOBS_DIR))
    from write_to_kafka import PRODUCER_OPTIONS

    props = {k.removeprefix("kafka."): v for k, v in PRODUCER_OPTIONS.items()}
    props["acks"] = "all"
    return [f"bootstrap.servers={bootstrap}", *(f"{k}={v}" for k, v in props.items())]


def stage_ceiling(ctx: Context) -> str:
    assert ctx.big_csv is not None
    topic = ctx.topic("perf")
    record_size = max(1, round(ctx.big_csv.avg_row_bytes))
    props = producer_props(ctx.bootstrap)
    produced = stats.parse_producer_perf(
        kafka_tool(
            "kafka-producer-perf-test",
            [
                *("--topic", topic, "--num-records", str(ctx.rows), "--record-size", str(record_size)),
                *("--throughput", "-1", "--producer-props", *props),
            ],
        )
    )
    group = ctx.name("perf-consumer")
    ctx.groups.append(group)
    consumed = stats.parse_consumer_perf(
        kafka_tool(
            "kafka-consumer-perf-test",
            [
                *("--bootstrap-server", ctx.bootstrap, "--topic", topic, "--messages", str(ctx.rows)),
                *("--group", group, "--timeout", "60000"),
            ],
        )
    )
    if consumed.get("data.consumed.in.nMsg", 0) < ctx.rows:
        raise RuntimeError(f"kafka-consumer-perf-test read {consumed.get('data.consumed.in.nMsg')} of {ctx.rows}")
    ctx.results["producer_perf_rows_per_s"] = produced["records_per_s"]
    # the fetch rate (group join excluded): Spark's source assigns partitions, it joins no group
    ctx.results["consumer_perf_rows_per_s"] = consumed["fetch.nMsg.sec"]
    ctx.details["producer_perf"] = {
        **produced,
        "record_size": record_size,
        "producer_props": props[1:],
    }
    ctx.details["consumer_perf"] = consumed
    return (
        f"producer {produced['records_per_s']:,.0f} rec/s, consumer {consumed['fetch.nMsg.sec']:,.0f} rec/s "
        f"(fetch; {consumed['nMsg.sec']:,.0f} rec/s with the group join)"
    )


def stage_write(ctx: Context) -> str:
    assert ctx.big_csv is not None
    params = {
        "source_csv": str(ctx.big_csv.path),
        "topic": ctx.name("players"),
        "hdfs_dir": ctx.home("landing"),
        "partitions": 1,
        "replication_factor": 1,
        "trigger": "availableNow",
    }
    plan = plan_write(params, ctx.kafka, ctx.hdfs_settings)
    ctx.track_plan(plan)
    ctx.write_plan = plan
    for name in (plan["topic"], plan["dlq_topic"]):
        kafka_topics.ensure_topic(ctx.kafka.config, name, plan["partitions"], plan["replication_factor"])
    started = time.monotonic()
    hdfs_files.ingest(ctx.hdfs, ctx.big_csv.path, plan["hdfs_dir"])
    upload_s = time.monotonic() - started
    run = run_submit(
        dag_command(plan, "write_to_kafka"), ctx.work / "write_to_kafka.log", {"HADOOP_USER_NAME": plan["hdfs_user"]}
    )
    count, first_ms, last_ms = edge_timestamps(ctx.kafka.config, plan["topic"])
    dead = sum(h - lo for lo, h in kafka_topics.watermarks(ctx.kafka.config, plan["dlq_topic"]).values())
    if count != ctx.rows or dead:
        raise RuntimeError(f"the write job sent {count} records and {dead} dead letters, expected {ctx.rows} and 0")
    planned_ms, committed_ms, batches = batch_span_ms(ctx.hdfs, plan["checkpoint"])
    kafka_s = (last_ms - first_ms) / 1000
    batch_s = (committed_ms - planned_ms) / 1000
    ctx.results["write_rows_per_s"] = stats.rate(count, kafka_s)
    ctx.results["write_ratio"] = stats.ratio(
        ctx.results["write_rows_per_s"], ctx.results.get("producer_perf_rows_per_s")
    )
    ctx.results["write_submit_s"] = run.seconds
    ctx.results["write_submit_rows_per_s"] = stats.rate(count, run.seconds)
    ctx.details["write"] = {
        "records": count,
        "upload_s": round(upload_s, 2),
        "submit_s": round(run.seconds, 2),
        "batches": batches,
        "batch_s": batch_s,
        "kafka_first_to_last_s": kafka_s,
        "before_first_record_s": round(batch_s - kafka_s, 3),  # line counts, parse, sort by key
        "batch_rows_per_s": stats.rate(count, batch_s),
        "driver_peak_rss_mb": run.driver_peak_rss_mb,
        "broker_peak_rss_mb": run.broker_peak_rss_mb,
    }
    return (
        f"{count:,} records: {ctx.results['write_rows_per_s']:,.0f} rec/s first->last record "
        f"(ratio {ctx.results['write_ratio'] or float('nan'):.2f}), batch {batch_s:.1f}s, "
        f"spark-submit {run.seconds:.1f}s"
    )


def topic_read_plan(ctx: Context, output: str) -> dict:
    """The read job's plan for the topic the write stage filled, from its first offset, availableNow, into
    ``output`` (a directory name under the run's HDFS home)."""
    if ctx.write_plan is None:
        raise RuntimeError("the write stage did not run: no topic to read")
    params = {
        "topic": ctx.write_plan["topic"],
        "output_dir": ctx.home(output),
        "starting_offsets": "earliest",
        "trigger": "availableNow",
    }
    return read_plan(ctx, params)


def stage_read(ctx: Context) -> str:
    plan = topic_read_plan(ctx, "archive")
    run = run_submit(
        dag_command(plan, "read_from_kafka", ["--no-console"]),
        ctx.work / "read_from_kafka.log",
        {"HADOOP_USER_NAME": plan["hdfs_user"]},
    )
    rows = sink_row_count(ctx.hdfs, plan["output_dir"])
    if rows != ctx.rows:
        raise RuntimeError(f"the archive holds {rows} rows, expected {ctx.rows}")
    planned_ms, committed_ms, batches = batch_span_ms(ctx.hdfs, plan["checkpoint"] + "/archive")
    batch_s = (committed_ms - planned_ms) / 1000
    # like the consumer perf tool's fetch rate (its group join excluded): the time the batches' tasks spent
    # reading Kafka and writing Parquet (Spark's addBatch), without the driver's planning and offset commits
    progress = batch_progress_lines(run.output, "archive:")
    tasks_s = add_batch_s(progress)
    if sum(p["numInputRows"] for p in progress) != rows:
        raise RuntimeError(f"the job's batch progress lines count {sum(p['numInputRows'] for p in progress)} rows")
    ctx.results["read_rows_per_s"] = stats.rate(rows, tasks_s)
    ctx.results["read_ratio"] = stats.ratio(ctx.results["read_rows_per_s"], ctx.results.get("consumer_perf_rows_per_s"))
    ctx.results["read_submit_s"] = run.seconds
    ctx.results["read_submit_rows_per_s"] = stats.rate(rows, run.seconds)
    ctx.details["read"] = {
        "rows": rows,
        "submit_s": round(run.seconds, 2),
        "batches": batches,
        "batch_s": batch_s,
        "tasks_s": tasks_s,
        "batch_rows_per_s": stats.rate(rows, batch_s),
        "durations_ms": [p["durationMs"] for p in progress],
        "method": "rows / Spark's addBatch time of the archive query (tasks reading Kafka and writing Parquet); "
        "batch_rows_per_s adds the driver's planning, offset fetch and commits (first batch planned to last "
        "committed, from the checkpoint's file times)",
        "driver_peak_rss_mb": run.driver_peak_rss_mb,
        "broker_peak_rss_mb": run.broker_peak_rss_mb,
    }
    warm = read_cold_and_warm(ctx)
    return (
        f"{rows:,} rows: {ctx.results['read_rows_per_s']:,.0f} rec/s in {batches} batch(es) "
        f"({stats.rate(rows, batch_s):,.0f} rec/s with planning and commits) "
        f"(ratio {ctx.results['read_ratio'] or float('nan'):.2f}), spark-submit {run.seconds:.1f}s; "
        f"in two halves: first {warm['cold_rows_per_s']:,.0f} rec/s, second (warm JVM) "
        f"{warm['warm_rows_per_s']:,.0f} rec/s (ratio {ctx.results['read_warm_ratio'] or float('nan'):.2f})"
    )


def read_cold_and_warm(ctx: Context) -> dict:
    """The same topic read again by the same job, in two micro-batches of half the rows each
    (``--max-offsets-per-trigger``): the first runs in a cold JVM (classes loaded, code interpreted until
    the JIT compiles it), the second in a warm one. Their rates tell how much of the read figure is the
    JVM's warm-up, which every spark-submit pays, and how fast the job reads once warm."""
    plan = topic_read_plan(ctx, "archive-halves")
    half = max(1, ctx.rows // 2)
    run = run_submit(
        dag_command(plan, "read_from_kafka", ["--no-console", "--max-offsets-per-trigger", str(half)]),
        ctx.work / "read_halves.log",
        {"HADOOP_USER_NAME": plan["hdfs_user"]},
    )
    progress = [p for p in batch_progress_lines(run.output, "archive:") if p["numInputRows"]]
    if len(progress) < 2 or sum(p["numInputRows"] for p in progress) != ctx.rows:
        raise RuntimeError(f"the halves run read {[p['numInputRows'] for p in progress]} rows, expected 2 batches")
    first, rest = progress[0], progress[1:]
    rest_rows = sum(p["numInputRows"] for p in rest)
    rest_s = add_batch_s(rest)
    out = {
        "batches": [{"rows": p["numInputRows"], "addBatch_ms": p["durationMs"].get("addBatch")} for p in progress],
        "cold_rows_per_s": stats.rate(first["numInputRows"], add_batch_s([first])),
        "warm_rows_per_s": stats.rate(rest_rows, rest_s),
        "method": "the same job and topic with --max-offsets-per-trigger rows/2: rows / addBatch of the first "
        "batch (cold JVM) and of the later ones (warm)",
    }
    ctx.results["read_warm_rows_per_s"] = out["warm_rows_per_s"]
    ctx.results["read_warm_ratio"] = stats.ratio(out["warm_rows_per_s"], ctx.results.get("consumer_perf_rows_per_s"))
    ctx.details["read_halves"] = out
    return out


def stage_read_ceiling(ctx: Context) -> str:
    """Spark's Kafka source alone, with the read job's own arguments and consumer options, into the ``noop``
    sink, in a fresh spark-submit as the job runs: the most the read job can reach here, before a single row
    is projected or written (bench/apps/read_noop.py)."""
    plan = topic_read_plan(ctx, "archive-noop")
    command = submit_command(
        str(BENCH_DIR / "apps" / "read_noop.py"),
        "bench-read-noop",
        [*plan["job_args"], "--no-console"],
        py_files=f"{JOBS_DIR / 'spark_streaming.py'},{JOBS_DIR / 'read_from_kafka.py'}",
        jars=plan["jars"],
    )
    run = run_submit(command, ctx.work / "read_noop.log", {"HADOOP_USER_NAME": plan["hdfs_user"]})
    progress = [p for p in batch_progress_lines(run.output, "read-noop") if p["numInputRows"]]
    rows = sum(p["numInputRows"] for p in progress)
    if rows != ctx.rows:
        raise RuntimeError(f"the Kafka source reached the noop sink with {rows} rows, expected {ctx.rows}")
    seconds = add_batch_s(progress)
    ctx.results["read_source_rows_per_s"] = stats.rate(rows, seconds)
    ctx.results["read_source_ratio"] = stats.ratio(
        ctx.results["read_source_rows_per_s"], ctx.results.get("consumer_perf_rows_per_s")
    )
    read = ctx.details.get("read", {})
    if read.get("tasks_s"):
        # what the job adds to the source (projection, Parquet, HDFS), as a share of its own read batch
        ctx.results["parquet_sink_share_of_read"] = max(0.0, 1 - seconds / read["tasks_s"])
    ctx.details["read_source"] = {
        "rows": rows,
        "add_batch_ms": [p["durationMs"].get("addBatch") for p in progress],
        "submit_s": round(run.seconds, 2),
        "method": "the read job's Kafka source (its arguments and consumer options), no projection, into Spark's "
        "noop sink, availableNow in a fresh spark-submit: rows / addBatch",
    }
    return (
        f"{ctx.results['read_source_rows_per_s']:,.0f} rec/s ({seconds:.1f}s for {rows:,} rows; ratio "
        f"{ctx.results['read_source_ratio'] or float('nan'):.2f} to the consumer ceiling)"
    )


def stage_memory(ctx: Context) -> str:
    write, read = ctx.details.get("write", {}), ctx.details.get("read", {})
    drivers = [v for v in (write.get("driver_peak_rss_mb"), read.get("driver_peak_rss_mb")) if v]
    brokers = [v for v in (write.get("broker_peak_rss_mb"), read.get("broker_peak_rss_mb")) if v]
    if not drivers or not brokers:
        raise RuntimeError("no RSS samples: the write and read stages did not run")
    ctx.results["driver_peak_rss_mb"] = max(drivers)
    ctx.results["broker_peak_rss_mb"] = max(brokers)
    return f"driver JVM {max(drivers):,.0f} MB, broker {max(brokers):,.0f} MB (peak RSS during write and read)"


def stage_parse(ctx: Context) -> str:
    if ctx.write_plan is None:
        raise RuntimeError("the write stage did not run: no CSV on HDFS")
    source = f"{ctx.hdfs_settings.hdfs_uri}{ctx.write_plan['hdfs_dir']}"
    command = submit_command(
        str(BENCH_DIR / "apps" / "parse_noop.py"),
        "bench-parse-noop",
        ["--source", source],
        py_files=f"{JOBS_DIR / 'spark_streaming.py'},{JOBS_DIR / 'write_to_kafka.py'}",
    )
    run = run_submit(command, ctx.work / "parse_noop.log", {"HADOOP_USER_NAME": ctx.hdfs_settings.user})
    result = json.loads(result_line(run.output))
    if result["rows"] != ctx.rows:
        raise RuntimeError(f"the parse reached the sink with {result['rows']} rows, expected {ctx.rows}")
    ctx.results["parse_rows_per_s"] = stats.rate(result["rows"], result["seconds"])
    ctx.details["parse"] = {"rows": result["rows"], "seconds": result["seconds"], "submit_s": round(run.seconds, 2)}
    write = ctx.details.get("write", {})
    if write:
        # the write batch = line counts, parse (+ sort by key when several tasks write), then the Kafka sink; its share:
        ctx.results["kafka_sink_share_of_write"] = write["kafka_first_to_last_s"] / write["batch_s"]
    return f"{ctx.results['parse_rows_per_s']:,.0f} rec/s ({result['seconds']:.1f}s for {result['rows']:,} rows)"


def _sink_batches(hdfs, output_dir: str) -> list[tuple[int, int, list[str]]]:
    """(batch id, commit time ms, files listed) for each file of a file sink's metadata log."""
    log_dir = posixpath.join(spark_metadata.hdfs_path(output_dir), "_spark_metadata")
    out = []
    for name, committed_ms in mtimes_ms(hdfs, log_dir).items():
        match = re.fullmatch(r"(\d+)(\.compact)?", name)
        if not match:
            continue
        lines = hdfs_files.read_bytes(hdfs, posixpath.join(log_dir, name)).decode().splitlines()[1:]
        files = [spark_metadata.hdfs_path(json.loads(line)["path"]) for line in lines if line.strip()]
        out.append((int(match.group(1)), committed_ms, files))
    return out


def wait_for(what: str, check: Callable[[], bool], deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the job ended (exit code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {deadline_s:.0f}s")
        time.sleep(0.2)


def produce_at(ctx: Context, topic: str, records: int, rate: int) -> dict[str, float]:
    """kafka-producer-perf-test: ``records`` of the players' average size at ``rate`` records/s (-1: as fast
    as it can), acks=all; its own summary."""
    assert ctx.big_csv is not None
    return stats.parse_producer_perf(
        kafka_tool(
            "kafka-producer-perf-test",
            [
                *("--topic", topic, "--num-records", str(records)),
                *("--record-size", str(max(1, round(ctx.big_csv.avg_row_bytes)))),
                *("--throughput", str(rate)),
                *("--producer-props", f"bootstrap.servers={ctx.bootstrap}", "acks=all"),
            ],
        )
    )


def committed_through(ctx: Context, checkpoint: str, topic: str, end: dict[int, int]) -> bool:
    """Has the Kafka-source query at ``checkpoint`` committed every offset below ``end`` (per partition)?"""
    done = spark_metadata.kafka_committed_offsets(ctx.hdfs, checkpoint, topic) or {}
    return all(done.get(p, 0) >= offset for p, offset in end.items())


def stop_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """Stop a process started in its own session, and its children: SIGTERM (Spark stops its queries between
    micro-batches: spark.sql.streaming.stopGracefullyOnShutdown), SIGKILL after ``grace_s``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def stage_latency(ctx: Context) -> str:
    """The read job in processingTime mode while a producer sends at a fixed rate; per-record latency.

    First the query starts and a priming burst goes through it (class loading, code generation and the first
    Parquet writer happen there, not in the figure); then the producer runs warm-up + measured seconds; the
    job is stopped once every record is committed. Only records of the measured seconds count.
    """
    topic = ctx.topic("latency")
    total_s = LATENCY_WARMUP_SECONDS + LATENCY_SECONDS
    params = {
        "topic": topic,
        "output_dir": ctx.home("latency-archive"),
        "starting_offsets": "earliest",
        "trigger": "processingTime",
        "interval_seconds": LATENCY_INTERVAL_S,
        "run_seconds": 3600,  # stopped by the bench once everything is committed
    }
    plan = read_plan(ctx, params)
    command = dag_command(plan, "read_from_kafka", ["--no-console"])
    log = ctx.work / "latency_read.log"
    env = {**os.environ, "HADOOP_USER_NAME": plan["hdfs_user"]}
    checkpoint = plan["checkpoint"] + "/archive"

    def ends() -> dict[int, int]:
        return {p: high for p, (_, high) in kafka_topics.watermarks(ctx.kafka.config, topic).items()}

    with log.open("w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT, start_new_session=True
        )
        try:
            # the query has run its first trigger once it has recorded its starting offsets
            marker = posixpath.join(checkpoint, "sources", "0", "0")
            wait_for("the read query started", lambda: bool(ctx.hdfs.status(marker, strict=False)), 180, proc)
            produce_at(ctx, topic, LATENCY_PRIME_RECORDS, -1)
            primed = ends()
            wait_for(
                "the priming records committed", lambda: committed_through(ctx, checkpoint, topic, primed), 180, proc
            )
            produced = produce_at(ctx, topic, LATENCY_RATE * total_s, LATENCY_RATE)
            final = ends()
            wait_for(
                f"every record committed within {LATENCY_DRAIN_S}s after the producer ended",
                lambda: committed_through(ctx, checkpoint, topic, final),
                LATENCY_DRAIN_S,
                proc,
            )
        finally:
            stop_group(proc)
    commit_of = stats.first_commit_times(_sink_batches(ctx.hdfs, plan["output_dir"]))
    latencies_all: list[tuple[int, int]] = []  # (kafka timestamp, latency) of the timed producer's records, ms
    for path in spark_metadata.sink_files(ctx.hdfs, plan["output_dir"]):
        table = parquet_rows(ctx.hdfs, path, ["partition", "offset", "timestamp"])
        committed = commit_of[path]
        rows = zip(
            table.column("partition").to_pylist(),
            table.column("offset").to_pylist(),
            timestamps_ms(table.column("timestamp")),
            strict=True,
        )
        latencies_all += [(ts, committed - ts) for p, offset, ts in rows if offset >= primed.get(p, 0)]
    expected = produced["records"]
    if len(latencies_all) != expected:
        raise RuntimeError(f"the archive holds {len(latencies_all)} of the {expected} records produced")
    t0 = min(ts for ts, _ in latencies_all)
    measured = [lat for ts, lat in latencies_all if ts >= t0 + LATENCY_WARMUP_SECONDS * 1000]
    everything = [lat for _, lat in latencies_all]
    ctx.results["latency_p50_ms"] = stats.percentile(measured, 50)
    ctx.results["latency_p99_ms"] = stats.percentile(measured, 99)
    batches = sorted({b for b, _, _ in _sink_batches(ctx.hdfs, plan["output_dir"])})
    ctx.details["latency"] = {
        "rate_per_s": LATENCY_RATE,
        "prime_records": LATENCY_PRIME_RECORDS,
        "warmup_s": LATENCY_WARMUP_SECONDS,
        "measured_s": LATENCY_SECONDS,
        "interval_s": LATENCY_INTERVAL_S,
        "records": len(everything),
        "measured_records": len(measured),
        "p50_ms": ctx.results["latency_p50_ms"],
        "p90_ms": stats.percentile(measured, 90),
        "p99_ms": ctx.results["latency_p99_ms"],
        "p999_ms": stats.percentile(measured, 99.9),
        "max_ms": max(measured),
        "p99_all_records_ms": stats.percentile(everything, 99),
        "max_all_records_ms": max(everything),
        "committed_batches": len(batches),
        "producer": produced,
        "method": "commit time of the file-sink batch that holds the row (mtime of _spark_metadata/<batch> on "
        "HDFS) minus the record's Kafka timestamp (CreateTime, set by the producer when it sends)",
    }
    ctx.details["latency_histogram_ms"] = measured  # for the chart; not written to JSON
    return (
        f"p50 {ctx.results['latency_p50_ms']:.0f} ms, p99 {ctx.results['latency_p99_ms']:.0f} ms at "
        f"{LATENCY_RATE:,} rec/s ({len(measured):,} records after a {LATENCY_WARMUP_SECONDS}s warm-up; "
        f"{len(batches)} batches)"
    )


def stage_orchestration(ctx: Context) -> str:
    small = players_data.write_csv(ctx.work / "small.csv", SMALL_ROWS, SEED + 1)
    # 1. the DAG, as `make run` does
    dag_conf = {"source_csv": str(small.path), "topic": ctx.name("dag"), "hdfs_dir": ctx.home("dag-landing")}
    dag_plan = plan_write({**dag_conf, "partitions": 1, "replication_factor": 1}, ctx.kafka, ctx.hdfs_settings)
    ctx.track_plan(dag_plan)
    ctx.hdfs_paths.append(dag_plan["hdfs_dir"])
    log = ctx.work / "dag_write_to_kafka.log"
    wall_start = time.time()
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call(
            [AIRFLOW, "dags", "test", "write_to_kafka", "--conf", json.dumps(dag_conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=ctx.dag_env,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
    dag_s = time.monotonic() - started
    output = log.read_text(errors="replace")
    dag_tasks = dag_task_seconds(output, wall_start)
    if code != 0 or "state=success" not in output:
        raise RuntimeError(f"airflow dags test write_to_kafka failed (exit code {code}); log: {log}")
    # 2. the same steps, bare
    bare_params = {
        "source_csv": str(small.path),
        "topic": ctx.name("bare"),
        "hdfs_dir": ctx.home("bare-landing"),
        "partitions": 1,
        "replication_factor": 1,
    }
    bare_plan = plan_write(bare_params, ctx.kafka, ctx.hdfs_settings)
    ctx.track_plan(bare_plan)
    spec = {
        "params": bare_params,
        "kafka_config": ctx.kafka.config,
        "hdfs": dataclasses.asdict(ctx.hdfs_settings),
        "command": dag_command(bare_plan, "write_to_kafka"),
        "log": str(ctx.work / "bare_write_to_kafka.log"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bare_write"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    bare_s = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the bare run failed (exit code {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    bare = json.loads(result_line(proc.stdout))
    floor_s = dags_test_floor(ctx)
    ctx.results["dag_run_s"] = dag_s
    ctx.results["dags_test_floor_s"] = floor_s
    ctx.results["bare_run_s"] = bare_s
    ctx.results["dag_overhead_s"] = dag_s - bare_s
    ctx.results["dag_overhead_ratio"] = (dag_s - bare_s) / dag_s
    # overhead / (bare + overhead) <= 0.2  <=>  overhead <= bare / 4
    ctx.results["dag_overhead_budget_s"] = bare_s / 4
    ctx.details["orchestration"] = {
        "rows": SMALL_ROWS,
        "dag_s": dag_s,
        "bare_s": bare_s,
        "dag_tasks_s": dag_tasks,
        "bare_steps_s": bare["steps"],
        "dags_test_floor_s": floor_s,
        "floor_method": "airflow dags test of bench/dags/bench_noop.py (one task that does nothing) in a "
        "throwaway AIRFLOW_HOME: what any `airflow dags test` process costs; the rest of the overhead is "
        "write_to_kafka's own tasks and the scheduling between them",
    }
    return (
        f"airflow dags test {dag_s:.1f}s vs bare {bare_s:.1f}s: overhead {dag_s - bare_s:.1f}s "
        f"({ctx.results['dag_overhead_ratio']:.0%} of the DAG run); a one-task no-op DAG takes {floor_s:.1f}s"
    )


def dags_test_floor(ctx: Context) -> float:
    """Seconds of `airflow dags test` for a DAG of one task that does nothing (bench/dags/bench_noop.py), in a
    throwaway Airflow home (its own SQLite database, migrated first and not timed)."""
    home = ctx.work / "airflow-floor"
    home.mkdir()
    env = {
        **ctx.dag_env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(BENCH_DIR / "dags"),
    }
    log = ctx.work / "dags_test_floor.log"
    with log.open("w") as out:
        subprocess.run(
            [AIRFLOW, "db", "migrate"], stdout=out, stderr=subprocess.STDOUT, env=env, check=True, timeout=300
        )
        started = time.monotonic()
        code = subprocess.call(
            [AIRFLOW, "dags", "test", "bench_noop"], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=300
        )
    seconds = time.monotonic() - started
    if code != 0 or "state=success" not in log.read_text(errors="replace"):
        raise RuntimeError(f"airflow dags test bench_noop failed (exit code {code}); log: {log}")
    return seconds


_DAG_TEST_LINE = re.compile(r"^(\S+?)Z? .*\[DAG TEST\] (starting|end task) task_id=(\w+)", re.M)


def dag_task_seconds(output: str, wall_start: float) -> dict[str, float]:
    """Where an `airflow dags test` run spent its time, from its log: the seconds before the first task
    starts (CLI start, DAG parsing, run creation), each task's, and the gaps between tasks in total."""
    marks = [
        (datetime.fromisoformat(ts).replace(tzinfo=UTC).timestamp(), what, task)
        for ts, what, task in _DAG_TEST_LINE.findall(output)
    ]
    if not marks:
        return {}
    out: dict[str, float] = {"before_first_task": round(marks[0][0] - wall_start, 2)}
    begun: dict[str, float] = {}
    for at, what, task in marks:
        if what == "starting":
            begun[task] = at
        elif task in begun:
            out[task] = round(at - begun.pop(task), 2)
    return out


def no_network_prefix() -> list[str]:
    """A command prefix that runs its command with no network but loopback (a new network namespace), or []
    when this machine can't make one (then the --jars start simply uses no network)."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return []
    probe = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return []
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "no-network"]


def stage_submit_start(ctx: Context) -> str:
    import pyspark

    probe = str(BENCH_DIR / "apps" / "submit_probe.py")
    env = {"HADOOP_USER_NAME": ctx.hdfs_settings.user}
    isolation = no_network_prefix()
    jars_cmd = isolation + submit_command(probe, "bench-submit-probe", jars=spark_kafka_jars())
    # a start-up is a few seconds of CPU on a shared machine: the median of a few runs, each one reported
    jars_runs = []
    for attempt in range(SUBMIT_START_RUNS):
        jars_runs.append(run_submit(jars_cmd, ctx.work / f"submit_jars_{attempt}.log", env))
        result_line(jars_runs[-1].output)
    jars_seconds = sorted(run.seconds for run in jars_runs)
    jars_s = stats.percentile(jars_seconds, 50)
    ivy = ctx.work / "ivy-cold"
    package = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"
    packages_cmd = submit_command(
        probe, "bench-submit-probe", conf={**SPARK_CONF, "spark.jars.ivy": str(ivy)}, packages=package
    )
    packages = run_submit(packages_cmd, ctx.work / "submit_packages.log", env)
    result_line(packages.output)
    shutil.rmtree(ivy, ignore_errors=True)
    ctx.results["submit_jars_s"] = jars_s
    ctx.results["submit_packages_s"] = packages.seconds
    ctx.details["submit"] = {
        "jars_s": jars_s,
        "jars_runs_s": [round(x, 2) for x in jars_seconds],
        "jars_method": f"median of {SUBMIT_START_RUNS} runs",
        "jars_network": "none: a network namespace with loopback only (unshare --net)" if isolation else "not cut",
        "packages_s": packages.seconds,
        "package": package,
        "ivy_cache": "fresh, empty (spark.jars.ivy), deleted after",
    }
    network = "no network" if isolation else "network not cut"
    runs = ", ".join(f"{x:.1f}" for x in jars_seconds)
    return f"--jars {jars_s:.1f}s (median of {runs}; {network}), --packages cold {packages.seconds:.1f}s"


STAGES: list[tuple[str, str, str, Callable[[Context], str]]] = [
    ("prepare", "0/7", "generate players CSV", stage_prepare),
    ("ceiling", "1/7", "broker ceiling (kafka perf tools)", stage_ceiling),
    ("write", "2/7", "write job (HDFS -> Spark -> Kafka)", stage_write),
    ("read", "3/7", "read job (Kafka -> Spark -> Parquet)", stage_read),
    ("read_ceiling", "3b/7", "read ceiling: Kafka source alone (noop sink)", stage_read_ceiling),
    ("parse", "4/7", "parse ceiling (noop sink)", stage_parse),
    ("latency", "5/7", "latency (processingTime read)", stage_latency),
    ("orchestration", "6a/7", "orchestration overhead: airflow dags test vs bare", stage_orchestration),
    ("submit", "6b/7", "spark-submit start: --jars vs --packages", stage_submit_start),
    ("memory", "7/7", "peak memory", stage_memory),
]
# what a stage needs run before it (--only adds these)
NEEDS = {
    "write": ["prepare"],
    "ceiling": ["prepare"],
    "read": ["write"],
    "read_ceiling": ["write"],
    "parse": ["write"],
    "latency": ["prepare"],
    "memory": ["write", "read"],
}


def selected_stages(only: str | None) -> list[str]:
    """The stage keys to run, in order: all of them, or those named in ``only`` plus what they need."""
    keys = [key for key, *_ in STAGES]
    if not only:
        return keys
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    unknown = wanted - set(keys)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; the stages are {keys}")
    todo = list(wanted)
    while todo:
        for need in NEEDS.get(todo.pop(), []):
            if need not in wanted:
                wanted.add(need)
                todo.append(need)
    return [key for key in keys if key in wanted]


# --------------------------------------------------------------------------------------- environment


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu": model,
        "os": platform.platform(),
    }


def versions() -> dict:
    from importlib.metadata import version

    import pyspark

    kafka = sorted(services.jars_dir("kafka").glob("kafka-clients-*.jar"))
    java = subprocess.run([services.java_bin(), "-version"], capture_output=True, text=True).stderr.splitlines()
    return {
        "kafka": kafka[-1].stem.removeprefix("kafka-clients-") if kafka else None,
        "spark": pyspark.__version__,
        "airflow": version("apache-airflow"),
        "python": platform.python_version(),
        "java": java[0] if java else None,
    }


def connect() -> tuple[KafkaSettings, HdfsSettings, object]:
    """The stack, from the same Airflow connections the DAGs use; fails fast when it is down."""
    from include.connections import hdfs_settings, kafka_settings

    kafka, hdfs_conf = kafka_settings(), hdfs_settings()
    kafka_topics.check_broker(kafka.config)
    return kafka, hdfs_conf, hdfs_files.client(hdfs_conf)


def cleanup(ctx: Context) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(ctx.kafka.config)
    for futures in (
        admin.delete_topics(ctx.topics, operation_timeout=30) if ctx.topics else {},
        admin.delete_consumer_groups(ctx.groups, request_timeout=30) if ctx.groups else {},
    ):
        for name, future in futures.items():
            try:
                future.result(timeout=30)
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                print(f"  cleanup: could not delete {name}: {exc}", file=sys.stderr)
    for path in [*ctx.hdfs_paths, ctx.home()]:
        try:
            ctx.hdfs.delete(path, recursive=True)
        except Exception as exc:  # noqa: BLE001
            print(f"  cleanup: could not delete hdfs:{path}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", DEFAULT_ROWS)))
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-docs", action="store_true", help="don't update docs/performance.md's generated part")
    parser.add_argument("--keep-work", action="store_true", help="keep the local work folder (logs, CSV)")
    parser.add_argument(
        "--only", default=os.environ.get("BENCH_STAGES") or None, help="comma-separated stages (and what they need)"
    )
    args = parser.parse_args(argv)
    if args.rows < SMALL_ROWS:
        parser.error(f"--rows must be >= {SMALL_ROWS}")
    try:
        run_keys = selected_stages(args.only)
    except ValueError as exc:
        parser.error(str(exc))

    began = time.monotonic()
    started_at = datetime.now(UTC)
    dag_env = dict(os.environ)  # `airflow dags test` runs in the Makefile's environment, as `make run`
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # this CLI prints its own progress lines
    run_id = f"bench-{started_at:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    load_at_start = round(os.getloadavg()[0], 2)
    kafka, hdfs_conf, hdfs = connect()
    work = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    ctx = Context(run_id, args.rows, work, kafka, hdfs_conf, hdfs, dag_env)
    ctx.results["rows"] = args.rows
    print(f"[bench] {run_id}: {args.rows:,} rows; logs in {work}", flush=True)
    try:
        for key, number, label, stage in STAGES:
            if key not in run_keys:
                continue
            t = time.monotonic()
            progress(number, f"{label} ...")
            try:
                summary = stage(ctx)
                progress(number, f"{label}: {summary} [{time.monotonic() - t:.0f}s]")
            except Exception as exc:  # noqa: BLE001 - a stage that fails is reported as such; the others go on
                ctx.errors[label] = f"{type(exc).__name__}: {exc}"
                progress(number, f"{label}: FAILED [{time.monotonic() - t:.0f}s]: {exc}")
                traceback.print_exc(file=sys.stderr)
    finally:
        cleanup(ctx)
    host = machine()
    host["load_avg_1m_at_start"] = load_at_start
    host["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    doc = report.build(
        ctx.results,
        {k: v for k, v in ctx.details.items() if k != "latency_histogram_ms"},
        ctx.errors,
        machine=host,
        versions=versions(),
        started_at=started_at,
        seconds=time.monotonic() - began,
        run_id=run_id,
    )
    if args.only:  # a partial run is for tuning: it never replaces the published results
        print(report.markdown_table(doc))
        print(json.dumps(doc["details"], indent=1, default=str)[:8000])
        print(f"[bench] partial run (--only {args.only}): results not written; logs in {work}", flush=True)
        return 1 if ctx.errors else 0
    written = report.write(doc, args.results_dir, ctx.details.get("latency_histogram_ms"))
    if not args.no_docs:
        report.update_performance_page(doc, results_dir=args.results_dir)
    print(report.markdown_table(doc))
    print(f"[bench] done in {doc['bench_seconds']:.0f}s: {', '.join(str(p) for p in written)}", flush=True)
    if not ctx.errors and not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    elif ctx.errors:
        print(f"[bench] {len(ctx.errors)} stage(s) failed; logs kept in {work}", file=sys.stderr)
    return 1 if ctx.errors else 0


if __name__ == "__main__":
    sys.exit(main())
