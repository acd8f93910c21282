"""5: latency: a producer at a fixed rate -> the read job in processingTime mode -> per-record latency."""

from __future__ import annotations

import json
import os
import posixpath
import signal
import subprocess
import time
from collections.abc import Callable

from bench import stats
from bench.stages.common import (
    PROJECT_ROOT,
    Context,
    dag_command,
    kafka_tool,
    mtimes_ms,
    parquet_rows,
    read_plan,
    timestamps_ms,
)
from include.config import SPARK_JOB_TIMEOUT, SPARK_START_MARGIN
from include.hdfs import archive as hdfs_archive
from include.hdfs import spark_logs
from include.hdfs.client import read_bytes
from include.kafka import offsets
from jobs import archive as layout

LATENCY_RATE = 10_000  # records/s

LATENCY_SECONDS = 60  # measured

LATENCY_WARMUP_SECONDS = 10  # produced first, not counted (JIT, first Parquet writer, first fetches)

LATENCY_INTERVAL_S = 0.2  # processingTime trigger interval of the read job in the latency stage

LATENCY_PRIME_RECORDS = 20_000  # sent and committed before the timed producer starts (not counted)

LATENCY_DRAIN_S = 30  # every record must be committed within this after the producer ends


def _sink_batches(hdfs, output_dir: str) -> list[tuple[int, int, list[str]]]:
    """(batch id, commit time ms, files listed) for each commit entry of the archive's log (jobs/archive.py)."""
    log_dir = posixpath.join(output_dir, layout.LOG_DIR)
    out = []
    for name, committed_ms in mtimes_ms(hdfs, log_dir).items():
        batch = layout.batch_of(name)
        if batch is None:
            continue
        entry = json.loads(read_bytes(hdfs, posixpath.join(log_dir, name)))
        out.append((batch, committed_ms, [posixpath.join(output_dir, f["path"]) for f in entry["files"]]))
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
    done = spark_logs.kafka_committed_offsets(ctx.hdfs, checkpoint, topic) or {}
    return all(done.get(p, 0) >= offset for p, offset in end.items())


def stop_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """Stop a process started in its own session, and its children: SIGTERM, SIGKILL after ``grace_s`` (the
    stage stops the job only once every record it measures is committed)."""
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


def run(ctx: Context) -> str:
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
        # the longest run validate_params allows (it must fit the task's timeout); the bench stops the job as soon
        # as everything is committed
        "run_seconds": (SPARK_JOB_TIMEOUT - SPARK_START_MARGIN).total_seconds(),
    }
    plan, recorded = read_plan(ctx, params)
    command = dag_command(plan.job, recorded.spark_args, "read_from_kafka", [])
    log = ctx.work / "latency_read.log"
    env = {**os.environ, "HADOOP_USER_NAME": plan.hdfs_user}
    checkpoint = plan.archive_checkpoint

    def ends() -> dict[int, int]:
        return {p: high for p, (_, high) in offsets.watermarks(ctx.kafka.config, topic).items()}

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
    commit_of = stats.first_commit_times(_sink_batches(ctx.hdfs, plan.output_dir))
    latencies_all: list[tuple[int, int]] = []  # (kafka timestamp, latency) of the timed producer's records, ms
    for path in hdfs_archive.all_files(ctx.hdfs, plan.output_dir):
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
    batches = sorted({b for b, _, _ in _sink_batches(ctx.hdfs, plan.output_dir)})
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
        "method": f"commit time of the batch that holds the row (mtime of its commit entry "
        f"{layout.LOG_DIR}/<batch>.json on HDFS) minus the record's Kafka timestamp (CreateTime, set by the "
        "producer when it sends)",
    }
    ctx.details["latency_histogram_ms"] = measured  # for the chart; not written to JSON
    return (
        f"p50 {ctx.results['latency_p50_ms']:.0f} ms, p99 {ctx.results['latency_p99_ms']:.0f} ms at "
        f"{LATENCY_RATE:,} rec/s ({len(measured):,} records after a {LATENCY_WARMUP_SECONDS}s warm-up; "
        f"{len(batches)} batches)"
    )
