"""9: runs in a row: ``BENCH_RUNS`` (50) consecutive small read_from_kafka runs on one topic and archive, as an
hourly schedule makes them; the last must cost no more than the first (the archive's commit log, the
checkpoint's offset and commit logs and the archive's files all grow meanwhile)."""

from __future__ import annotations

import os
import posixpath
import statistics

from bench import stats
from bench.stages.common import Context, produce_small, read_once
from include.hdfs.client import list_names
from jobs import archive as layout

DEFAULT_RUNS = 50
RUN_ROWS = 1_000
EDGE = 5  # first and last cost: the median of the first and of the last EDGE runs (one spark-submit is noisy)


def runs() -> int:
    return int(os.environ.get("BENCH_RUNS", DEFAULT_RUNS))


def run(ctx: Context) -> str:
    count = runs()
    if count < 2 * EDGE:
        raise ValueError(f"BENCH_RUNS must be >= {2 * EDGE}, got {count}")
    topic = ctx.topic("runs")
    params = {"topic": topic, "output_dir": ctx.home("runs")}
    each = []
    for i in range(count):
        produce_small(ctx, topic, RUN_ROWS)
        run = read_once(ctx, params, ctx.work / f"runs-{i:03d}")
        if run.rows != RUN_ROWS:
            raise RuntimeError(f"run {i + 1} verified {run.rows} messages, not {RUN_ROWS}")
        each.append(
            {
                "run_s": run.run_s,
                "record_s": run.record_s,
                "submit_s": run.submit.seconds,
                "verify_s": run.verify.seconds,
                "verify_wall_s": run.verify.wall_s,
            }
        )
    plan = run.plan
    first = statistics.median(r["run_s"] for r in each[:EDGE])
    last = statistics.median(r["run_s"] for r in each[-EDGE:])
    ctx.results |= {
        "runs_in_a_row": count,
        "run_s_first": first,
        "run_s_last": last,
        "runs_last_first_ratio": stats.ratio(last, first),
        "runs_verify_s_first": statistics.median(r["verify_s"] for r in each[:EDGE]),
        "runs_verify_s_last": statistics.median(r["verify_s"] for r in each[-EDGE:]),
    }
    ctx.details["runs"] = {
        "rows_per_run": RUN_ROWS,
        "each": each,
        "after": {
            "archive_log_entries": len(list_names(ctx.hdfs, posixpath.join(plan.output_dir, layout.LOG_DIR))),
            "checkpoint_offsets": len(list_names(ctx.hdfs, posixpath.join(plan.archive_checkpoint, "offsets"))),
            "checkpoint_commits": len(list_names(ctx.hdfs, posixpath.join(plan.archive_checkpoint, "commits"))),
        },
        "method": f"{count} runs, each adding {RUN_ROWS} messages: record_offsets (in this process) + the job's "
        f"spark-submit + verify_sink (a process of its own, imports included); first / last = the median of the "
        f"first / last {EDGE} runs",
    }
    return (
        f"{count} runs of {RUN_ROWS} messages: first {first:.1f}s, last {last:.1f}s "
        f"(ratio {ctx.results['runs_last_first_ratio']:.2f}; median of {EDGE} each)"
    )
