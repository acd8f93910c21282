"""10: write verification of any size. verify_messages compares a run's files with its topics streamed, in
memory that does not grow with the row count.

Two write runs, each on a fresh topic and landing folder: a CSV of ``SMALL`` rows (1M) and one of
``BENCH_VERIFY_ROWS`` (50M by default), generated, ingested and written by the write job as the DAG does (the
plan's own steps and spark-submit command). The verification (include/pipeline/write.py verify: the expected
side's digests from the files, the wait, the topics' digests) runs in a process of its own, as Airflow runs a
task: its time and its peak RSS, sampled. An independent count (the topics' offsets) checks that the run sent
every row.
"""

from __future__ import annotations

import os

from bench import players_data, stats
from bench.stages.common import SEED, Context, dag_command, run_submit, run_task
from include.kafka import offsets
from include.pipeline import write

DEFAULT_VERIFY_ROWS = 50_000_000
SMALL = 1_000_000


def verify_rows() -> int:
    return int(os.environ.get("BENCH_VERIFY_ROWS", DEFAULT_VERIFY_ROWS))


def _written_and_verified(ctx: Context, rows: int, label: str) -> dict:
    csv = players_data.write_csv(ctx.work / f"verify-{label}.csv", rows, SEED + 2)
    params = {
        "source_csv": str(csv.path),
        "topic": ctx.name(f"verify-{label}"),
        "hdfs_dir": ctx.home(f"verify-{label}"),
        "partitions": 1,
        "replication_factor": 1,
        "trigger": "availableNow",
    }
    plan = write.plan(params, ctx.connections)
    ctx.track_plan(plan)
    write.create_topics(plan, ctx.connections)
    ingested = write.ingest(plan, ctx.connections)
    recorded = write.record_offsets(plan, ctx.connections, ingested=ingested)
    submit = run_submit(
        dag_command(plan.job, plan.spark_args, "write_to_kafka"),
        ctx.work / f"verify-{label}-job.log",
        {"HADOOP_USER_NAME": plan.hdfs_user},
        timeout=3600,
    )
    csv.path.unlink()  # the verification reads the file the query took, on HDFS
    sent = sum(h - lo for lo, h in offsets.watermarks(ctx.kafka.config, plan.topic).values())
    if sent != rows:
        raise RuntimeError(f"the write job sent {sent:,} records of {rows:,}")
    task = run_task(plan, recorded, ctx.work / f"verify-{label}.verify.log")
    if task.result.get("expected_valid") != rows or task.result.get("arrived_valid") != rows:
        raise RuntimeError(f"verify_messages of {rows:,} rows: {task.result}")
    return {
        "rows": rows,
        "csv_bytes": csv.bytes,
        "submit_s": round(submit.seconds, 1),
        "verify_s": round(task.seconds, 2),
        "verify_rss_mb": task.peak_rss_mb,
        "naming_passes": task.result.get("naming_passes"),
    }


def run(ctx: Context) -> str:
    rows = verify_rows()
    if rows <= SMALL:
        raise ValueError(f"BENCH_VERIFY_ROWS must be > {SMALL:,}, got {rows:,}")
    small = _written_and_verified(ctx, SMALL, "small")
    large = _written_and_verified(ctx, rows, "large")
    ctx.results |= {
        "verify_rows": rows,
        "verify_s": large["verify_s"],
        "verify_rss_mb": large["verify_rss_mb"],
        "verify_rows_small": SMALL,
        "verify_s_small": small["verify_s"],
        "verify_rss_mb_small": small["verify_rss_mb"],
        "verify_rss_ratio": stats.ratio(large["verify_rss_mb"], small["verify_rss_mb"]),
        "verify_rows_per_s": stats.rate(rows, large["verify_s"]),
    }
    ctx.details["verify_write"] = {
        "small": small,
        "large": large,
        "method": "write_to_kafka runs of 1M and verify_rows generated rows (the plan's steps, the DAG's "
        "spark-submit); verify_messages' three steps (expected digests from the file on HDFS, the wait, the "
        "topics' digests) in a process of their own: time of the call, peak RSS of the process sampled "
        "every 200 ms",
    }
    return (
        f"verify_messages of {rows:,} rows: {large['verify_s']:.0f}s, {large['verify_rss_mb']:.0f} MB; of "
        f"{SMALL:,}: {small['verify_s']:.1f}s, {small['verify_rss_mb']:.0f} MB "
        f"(memory ratio {ctx.results['verify_rss_ratio']:.2f}, target <= 1.2)"
    )
