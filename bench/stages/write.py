"""2: the write job: the generated CSV -> HDFS -> jobs/write_to_kafka.py (availableNow, the DAG's plan and
steps) -> Kafka."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench import stats
from bench.stages.common import Context, SubmitRun, batch_span_ms, dag_command, edge_timestamps, run_submit
from include.kafka import offsets
from include.pipeline import write
from include.plans import WritePlan


def run(ctx: Context) -> str:
    plan = plan_write(ctx, "players", "landing")
    ctx.write_plan = plan
    measured = measure(ctx, plan, ctx.work / "write_to_kafka.log", run_submit)
    count, kafka_s, batch_s = measured["records"], measured["kafka_first_to_last_s"], measured["batch_s"]
    ctx.results["write_rows_per_s"] = stats.rate(count, kafka_s)
    ctx.results["write_ratio"] = stats.ratio(
        ctx.results["write_rows_per_s"], ctx.results.get("producer_perf_rows_per_s")
    )
    ctx.results["write_submit_s"] = measured["submit_s"]
    ctx.results["write_submit_rows_per_s"] = stats.rate(count, measured["submit_s"])
    ctx.details["write"] = measured
    return (
        f"{count:,} records: {ctx.results['write_rows_per_s']:,.0f} rec/s first->last record "
        f"(ratio {ctx.results['write_ratio'] or float('nan'):.2f}), batch {batch_s:.1f}s, "
        f"spark-submit {measured['submit_s']:.1f}s"
    )


def plan_write(ctx: Context, topic: str, landing: str) -> WritePlan:
    """write_to_kafka's plan for the run's CSV into a fresh topic and landing directory of the run."""
    assert ctx.big_csv is not None
    params = {
        "source_csv": str(ctx.big_csv.path),
        "topic": ctx.name(topic),
        "hdfs_dir": ctx.home(landing),
        "partitions": 1,
        "replication_factor": 1,
        "trigger": "availableNow",
    }
    plan = write.plan(params, ctx.connections)
    ctx.track_plan(plan)
    return plan


def measure(ctx: Context, plan: WritePlan, log: Path, submit: Callable[..., SubmitRun]) -> dict:
    """The DAG's steps for ``plan`` (topics, ingest), its spark-submit run by ``submit(command, log, env)``, and
    what arrived: every row checked, the rate from the first to the last record's Kafka timestamp, the batch span
    from the checkpoint."""
    write.create_topics(plan, ctx.connections)
    started = time.monotonic()
    write.ingest(plan, ctx.connections)
    upload_s = time.monotonic() - started
    run = submit(dag_command(plan.job, plan.spark_args, "write_to_kafka"), log, {"HADOOP_USER_NAME": plan.hdfs_user})
    count, first_ms, last_ms = edge_timestamps(ctx.kafka.config, plan.topic)
    dead = sum(h - lo for lo, h in offsets.watermarks(ctx.kafka.config, plan.dlq_topic).values())
    if count != ctx.rows or dead:
        raise RuntimeError(f"the write job sent {count} records and {dead} dead letters, expected {ctx.rows} and 0")
    planned_ms, committed_ms, batches = batch_span_ms(ctx.hdfs, plan.checkpoint)
    kafka_s = (last_ms - first_ms) / 1000
    batch_s = (committed_ms - planned_ms) / 1000
    return {
        "records": count,
        "rows_per_s": stats.rate(count, kafka_s),
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
