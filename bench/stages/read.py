"""3: the read job: the written topic -> jobs/read_from_kafka.py (with console) -> Parquet on HDFS; and the same
read in two halves (cold and warm JVM)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench import stats
from bench.stages.common import (
    Context,
    SubmitRun,
    add_batch_s,
    batch_progress_lines,
    batch_span_ms,
    dag_command,
    run_submit,
    sink_row_count,
    topic_read_plan,
)
from include.pipeline.read import ReadRecord
from include.plans import ReadPlan


def run(ctx: Context) -> str:
    plan, recorded = topic_read_plan(ctx, "archive")
    measured = measure(ctx, plan, recorded, ctx.work / "read_from_kafka.log", run_submit)
    rows, batches, batch_s = measured["rows"], measured["batches"], measured["batch_s"]
    ctx.results["read_rows_per_s"] = measured["rows_per_s"]
    ctx.results["read_ratio"] = stats.ratio(ctx.results["read_rows_per_s"], ctx.results.get("consumer_perf_rows_per_s"))
    ctx.results["read_submit_s"] = measured["submit_s"]
    ctx.results["read_submit_rows_per_s"] = stats.rate(rows, measured["submit_s"])
    ctx.details["read"] = measured
    warm = read_cold_and_warm(ctx)
    return (
        f"{rows:,} rows: {ctx.results['read_rows_per_s']:,.0f} rec/s in {batches} batch(es) "
        f"({stats.rate(rows, batch_s):,.0f} rec/s with planning and commits) "
        f"(ratio {ctx.results['read_ratio'] or float('nan'):.2f}), spark-submit {measured['submit_s']:.1f}s; "
        f"in two halves: first {warm['cold_rows_per_s']:,.0f} rec/s, second (warm JVM) "
        f"{warm['warm_rows_per_s']:,.0f} rec/s (ratio {ctx.results['read_warm_ratio'] or float('nan'):.2f})"
    )


def measure(ctx: Context, plan: ReadPlan, recorded: ReadRecord, log: Path, submit: Callable[..., SubmitRun]) -> dict:
    """The read job for ``plan`` and ``recorded`` (record_offsets' arguments), run by ``submit(command, log,
    env)``: every row checked in the archive, the rate = rows / Spark's addBatch time, from the job's batch
    progress lines (the driver's output)."""
    run = submit(
        dag_command(plan.job, recorded.spark_args, "read_from_kafka", []), log, {"HADOOP_USER_NAME": plan.hdfs_user}
    )
    rows = sink_row_count(ctx.hdfs, plan.output_dir)
    if rows != ctx.rows:
        raise RuntimeError(f"the archive holds {rows} rows, expected {ctx.rows}")
    planned_ms, committed_ms, batches = batch_span_ms(ctx.hdfs, plan.archive_checkpoint)
    batch_s = (committed_ms - planned_ms) / 1000
    # like the consumer perf tool's fetch rate (its group join excluded): the time the batches' tasks spent
    # reading Kafka and writing Parquet (Spark's addBatch), without the driver's planning and offset commits
    progress = batch_progress_lines(run.output, "archive:")
    tasks_s = add_batch_s(progress)
    if sum(p["numInputRows"] for p in progress) != rows:
        raise RuntimeError(f"the job's batch progress lines count {sum(p['numInputRows'] for p in progress)} rows")
    return {
        "rows": rows,
        "rows_per_s": stats.rate(rows, tasks_s),
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


def read_cold_and_warm(ctx: Context) -> dict:
    """The same topic read again by the same job, in two micro-batches of half the rows each
    (``--max-offsets-per-trigger``): the first runs in a cold JVM (classes loaded, code interpreted until
    the JIT compiles it), the second in a warm one. Their rates tell how much of the read figure is the
    JVM's warm-up, which every spark-submit pays, and how fast the job reads once warm."""
    plan, recorded = topic_read_plan(ctx, "archive-halves")
    half = max(1, ctx.rows // 2)
    run = run_submit(
        dag_command(plan.job, recorded.spark_args, "read_from_kafka", ["--max-offsets-per-trigger", str(half)]),
        ctx.work / "read_halves.log",
        {"HADOOP_USER_NAME": plan.hdfs_user},
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
