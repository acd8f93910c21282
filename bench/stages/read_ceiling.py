"""3b: the read ceiling: the read job's Kafka source alone into Spark's noop sink; and the same source into the
archive's shape before issue #16, for reference (both bench/apps/read_source.py). The read job's ratio to its
source is the median of READ_TURNS turns (job, source, earlier shape), each ratio taken within its turn."""

from __future__ import annotations

import statistics

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
from bench.stages.read import measure
from include.spark_app import jobs_archive, kafka_connector

# One spark-submit of each against another moves by up to a third with this machine's load (the source alone
# 396,825-646,621 rec/s over five runs); a ratio taken within a turn, the median of three, follows the code.
READ_TURNS = 3


def submit_app(ctx: Context, sink: str, turn: int = 0) -> dict:
    """bench/apps/read_source.py into ``sink`` on the written topic with the read job's own arguments, in a fresh
    spark-submit: its rows, Spark's addBatch seconds (from the job's batch progress lines of the query, named
    after its sink) and the spark-submit's seconds."""
    plan, recorded = topic_read_plan(ctx, f"archive-{sink}" + (f"-{turn}" if turn else ""))
    command = submit_command(
        str(BENCH_DIR / "apps" / "read_source.py"),
        f"bench-read-{sink}",
        [sink, *recorded.spark_args],
        py_files=str(jobs_archive()),
        **kafka_connector(),
    )
    log = ctx.work / (f"read-{sink}.log" if not turn else f"read-{sink}-{turn}.log")
    run = run_submit(command, log, {"HADOOP_USER_NAME": plan.hdfs_user})
    progress = [p for p in batch_progress_lines(run.output, sink) if p["numInputRows"]]
    rows = sum(p["numInputRows"] for p in progress)
    if rows != ctx.rows:
        raise RuntimeError(f"the Kafka source into {sink} read {rows} rows, expected {ctx.rows}")
    return {"rows": rows, "add_batch_s": round(add_batch_s(progress), 3), "submit_s": round(run.seconds, 2)}


def job_turn(ctx: Context, turn: int) -> float | None:
    """The read job's rate (rows / addBatch) in ``turn``: the read stage's figure for the first turn when it ran,
    else a run of the job exactly as the read stage runs it, into an archive of its own."""
    if turn == 0 and ctx.results.get("read_rows_per_s"):
        return ctx.results["read_rows_per_s"]
    plan, recorded = topic_read_plan(ctx, f"archive-turn-{turn}")
    return measure(ctx, plan, recorded, ctx.work / f"read_from_kafka-turn-{turn}.log", run_submit)["rows_per_s"]


def run(ctx: Context) -> str:
    """Spark's Kafka source alone, with the read job's own arguments and consumer options, into the ``noop``
    sink, in a fresh spark-submit as the job runs: the most the read job can reach here, before a single row
    is projected or written. Then the same source into the archive's earlier shape: what a plain string archive
    reaches against the same ceiling (bench/apps/read_source.py). In READ_TURNS turns of the job, the source and
    the earlier shape; each ratio is the median of the turns' own ratios."""
    turns = []
    for turn in range(READ_TURNS):
        job = job_turn(ctx, turn)
        source = submit_app(ctx, "noop", turn)
        string = submit_app(ctx, "string-archive", turn)
        source_rate = stats.rate(source["rows"], source["add_batch_s"])
        string_rate = stats.rate(string["rows"], string["add_batch_s"])
        turns.append(
            {
                "read_rows_per_s": job,
                "source": source,
                "string_archive": string,
                "read_to_source_ratio": stats.ratio(job, source_rate),
                "string_archive_to_source_ratio": stats.ratio(string_rate, source_rate),
            }
        )
    first = turns[0]
    rows, seconds = first["source"]["rows"], first["source"]["add_batch_s"]
    ctx.results["read_source_rows_per_s"] = stats.rate(rows, seconds)
    ctx.results["read_source_ratio"] = stats.ratio(
        ctx.results["read_source_rows_per_s"], ctx.results.get("consumer_perf_rows_per_s")
    )
    ctx.results["read_to_source_ratio"] = _median(t["read_to_source_ratio"] for t in turns)
    read = ctx.details.get("read", {})
    if read.get("tasks_s"):
        # what the job adds to the source (projection, Parquet, HDFS), as a share of its own read batch
        ctx.results["parquet_sink_share_of_read"] = max(0.0, 1 - seconds / read["tasks_s"])
    ctx.details["read_source"] = first["source"] | {
        "method": "the read job's Kafka source (its arguments and consumer options), no projection, into Spark's "
        "noop sink, availableNow in a fresh spark-submit: rows / addBatch",
    }
    string = first["string_archive"]
    ctx.results["read_string_archive_rows_per_s"] = stats.rate(string["rows"], string["add_batch_s"])
    ctx.results["read_string_archive_to_source_ratio"] = _median(t["string_archive_to_source_ratio"] for t in turns)
    ctx.details["read_string_archive"] = string | {
        "method": "the read job's Kafka source into Spark's Parquet file sink in the archive's shape before "
        "issue #16 (strings, no headers, dates, console, staging or archive log), availableNow in a fresh "
        "spark-submit: rows / addBatch",
    }
    ctx.details["read_turns"] = {
        "turns": turns,
        "method": f"{READ_TURNS} turns of the read job (the read stage's run first), its source alone and the "
        "earlier string shape, one fresh spark-submit each; read_to_source_ratio and "
        "read_string_archive_to_source_ratio are the medians of the ratios taken within each turn",
    }
    per_turn = ", ".join(f"{t['read_to_source_ratio'] or float('nan'):.2f}" for t in turns)
    return (
        f"{ctx.results['read_source_rows_per_s']:,.0f} rec/s ({seconds:.1f}s for {rows:,} rows; ratio "
        f"{ctx.results['read_source_ratio'] or float('nan'):.2f} to the consumer ceiling); the earlier string "
        f"archive on that source: {ctx.results['read_string_archive_rows_per_s']:,.0f} rec/s; in {READ_TURNS} "
        f"turns, the job against its source {per_turn} (median "
        f"{ctx.results['read_to_source_ratio'] or float('nan'):.2f}), the earlier shape median "
        f"{ctx.results['read_string_archive_to_source_ratio'] or float('nan'):.2f}"
    )


def _median(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None
