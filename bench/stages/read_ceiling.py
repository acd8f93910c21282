"""3b: the read ceiling: the read job's Kafka source alone into Spark's noop sink; and the same source into the
archive's shape before issue #16, for reference (both bench/apps/read_source.py)."""

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


def submit_app(ctx: Context, sink: str) -> dict:
    """bench/apps/read_source.py into ``sink`` on the written topic with the read job's own arguments, in a fresh
    spark-submit: its rows, Spark's addBatch seconds (from the job's batch progress lines of the query, named
    after its sink) and the spark-submit's seconds."""
    plan, recorded = topic_read_plan(ctx, f"archive-{sink}")
    command = submit_command(
        str(BENCH_DIR / "apps" / "read_source.py"),
        f"bench-read-{sink}",
        [sink, *recorded.spark_args],
        py_files=str(jobs_archive()),
        **kafka_connector(),
    )
    run = run_submit(command, ctx.work / f"read-{sink}.log", {"HADOOP_USER_NAME": plan.hdfs_user})
    progress = [p for p in batch_progress_lines(run.output, sink) if p["numInputRows"]]
    rows = sum(p["numInputRows"] for p in progress)
    if rows != ctx.rows:
        raise RuntimeError(f"the Kafka source into {sink} read {rows} rows, expected {ctx.rows}")
    return {"rows": rows, "add_batch_s": round(add_batch_s(progress), 3), "submit_s": round(run.seconds, 2)}


def run(ctx: Context) -> str:
    """Spark's Kafka source alone, with the read job's own arguments and consumer options, into the ``noop``
    sink, in a fresh spark-submit as the job runs: the most the read job can reach here, before a single row
    is projected or written. Then the same source into the archive's earlier shape: what a plain string archive
    reaches against the same ceiling (bench/apps/read_source.py)."""
    source = submit_app(ctx, "noop")
    rows, seconds = source["rows"], source["add_batch_s"]
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
    ctx.details["read_source"] = source | {
        "method": "the read job's Kafka source (its arguments and consumer options), no projection, into Spark's "
        "noop sink, availableNow in a fresh spark-submit: rows / addBatch",
    }
    string = submit_app(ctx, "string-archive")
    ctx.results["read_string_archive_rows_per_s"] = stats.rate(string["rows"], string["add_batch_s"])
    ctx.results["read_string_archive_to_source_ratio"] = stats.ratio(
        ctx.results["read_string_archive_rows_per_s"], ctx.results["read_source_rows_per_s"]
    )
    ctx.details["read_string_archive"] = string | {
        "method": "the read job's Kafka source into Spark's Parquet file sink in the archive's shape before "
        "issue #16 (strings, no headers, dates, console, staging or archive log), availableNow in a fresh "
        "spark-submit: rows / addBatch",
    }
    return (
        f"{ctx.results['read_source_rows_per_s']:,.0f} rec/s ({seconds:.1f}s for {rows:,} rows; ratio "
        f"{ctx.results['read_source_ratio'] or float('nan'):.2f} to the consumer ceiling); the earlier string "
        f"archive on that source: {ctx.results['read_string_archive_rows_per_s']:,.0f} rec/s (ratio "
        f"{ctx.results['read_string_archive_to_source_ratio'] or float('nan'):.2f})"
    )
