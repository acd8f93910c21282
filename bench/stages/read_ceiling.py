"""3b: the read ceiling: the read job's Kafka source alone into Spark's noop sink (bench/apps/read_noop.py)."""

from __future__ import annotations

from bench import stats
from bench.stages.common import (
    BENCH_DIR,
    Context,
    add_batch_s,
    batch_progress_lines,
    run_submit,
    submit_command,
    topic_read_plan,
)
from include.spark_app import jobs_archive, kafka_connector


def run(ctx: Context) -> str:
    """Spark's Kafka source alone, with the read job's own arguments and consumer options, into the ``noop``
    sink, in a fresh spark-submit as the job runs: the most the read job can reach here, before a single row
    is projected or written (bench/apps/read_noop.py)."""
    plan, recorded = topic_read_plan(ctx, "archive-noop")
    command = submit_command(
        str(BENCH_DIR / "apps" / "read_noop.py"),
        "bench-read-noop",
        list(recorded.spark_args),
        py_files=str(jobs_archive()),
        **kafka_connector(),
    )
    run = run_submit(command, ctx.work / "read_noop.log", {"HADOOP_USER_NAME": plan.hdfs_user})
    progress = [p for p in batch_progress_lines(run.output, "read-noop") if p["numInputRows"]]
    rows = sum(p["numInputRows"] for p in progress)
    if rows != ctx.rows:
        raise RuntimeError(f"the Kafka source reached the noop sink with {rows} rows, expected {ctx.rows}")
    seconds = add_batch_s(progress)
    ctx.results["read_source_rows_per_s"] = stats.rate(rows, seconds)
    ctx.results["read_source_ratio"] = stats.ratio(
        ctx.results["read_source_rows_per_s"], ctx.results.get("consumer_perf_rows_per_s")
    )
    ctx.results["read_to_source_ratio"] = stats.ratio(
        ctx.results.get("read_rows_per_s"), ctx.results["read_source_rows_per_s"]
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
