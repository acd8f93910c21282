"""8: cost against history. A run's cost must grow with what it adds, never with the archive behind it.

Archives of 0, a tenth, two fifths and all of ``BENCH_HISTORY_ROWS`` messages (0, 1M, 4M, 10M) are built with
Kafka's perf producer and the read job (24-byte records); on each, a run that adds ``STEP_ROWS``: its
verify_sink (in a process of its own, as Airflow runs a task) is timed and its peak RSS sampled, the median of
``REPEATS`` runs of the task, taken in turns over the four archives once all are built (verify only reads). Each
archive is built by one run, the first on a topic holding that many messages, with the DAG's default params and
its console: these are the backlog figures (the Spark driver JVM's peak RSS, and the verify_sink of the backlog).
"""

from __future__ import annotations

import os
import statistics

from bench import stats
from bench.stages.common import Context, ReadRun, perf_produce, produce_small, read_once, run_task

DEFAULT_HISTORY_ROWS = 10_000_000
STEP_ROWS = 1_000
REPEATS = 7


def history_rows() -> int:
    return int(os.environ.get("BENCH_HISTORY_ROWS", DEFAULT_HISTORY_ROWS))


def _step(ctx: Context, topic: str, output: str, history: int) -> ReadRun:
    """Add STEP_ROWS to a topic whose archive holds ``history`` messages, and read them (a run of the DAG's)."""
    produce_small(ctx, topic, STEP_ROWS)
    run = read_once(ctx, {"topic": topic, "output_dir": ctx.home(output)}, ctx.work / f"history-{history}")
    if run.rows != STEP_ROWS:
        raise RuntimeError(f"the run on a history of {history:,} verified {run.rows} messages, not {STEP_ROWS}")
    return run


def _measured(ctx: Context, steps: dict[int, ReadRun]) -> list[dict]:
    """verify_sink of each step's run REPEATS times, the steps in turn (0, 1M, 4M, 10M, 0, 1M, ...), after all
    the archives are built: every point is measured in the same stretch of time, so that the machine's state
    (the writeback and compactions that building 10M messages leaves behind) weighs on all of them alike rather
    than on the last one. verify_sink only reads, so a run's verification can be repeated as it is, as long as
    nothing is added to its archive meanwhile (each point has an archive of its own)."""
    timed: dict[int, list] = {history: [] for history in steps}
    for i in range(REPEATS):
        for history, run in steps.items():
            log = ctx.work / f"history-{history}-verify{i}.verify.log"
            task = run_task(run.plan, run.recorded, log)
            if task.result["checked"] != STEP_ROWS:
                raise RuntimeError(f"verify_sink on {history:,} checked {task.result['checked']:,}, not {STEP_ROWS}")
            timed[history].append(task)
    return [
        {
            "history_rows": history,
            "verify_s": statistics.median(t.seconds for t in tasks),
            "verify_rss_mb": statistics.median(t.peak_rss_mb or 0 for t in tasks),
            "verify_s_each": [round(t.seconds, 3) for t in tasks],
            "verify_rss_mb_each": [t.peak_rss_mb for t in tasks],
            "run_s": steps[history].run_s,
        }
        for history, tasks in timed.items()
    ]


def _backlog(ctx: Context, topic: str, output: str, rows: int, label: str) -> dict:
    """The first run on a topic holding ``rows`` messages, the DAG's default params: the driver's peak RSS."""
    perf_produce(ctx, topic, rows)
    run = read_once(ctx, {"topic": topic, "output_dir": ctx.home(output)}, ctx.work / f"backlog-{label}")
    if run.rows != rows:
        raise RuntimeError(f"the first run on a backlog of {rows:,} verified {run.rows:,} messages")
    return {
        "rows": rows,
        "submit_s": run.submit.seconds,
        "driver_peak_rss_mb": run.submit.driver_peak_rss_mb,
        "verify_s": run.verify.seconds,
        "verify_rss_mb": run.verify.peak_rss_mb,
    }


def run(ctx: Context) -> str:
    rows = history_rows()
    if rows < 100 * STEP_ROWS:
        raise ValueError(f"BENCH_HISTORY_ROWS must be >= {100 * STEP_ROWS:,}, got {rows:,}")
    small, middle = rows // 10, rows * 2 // 5  # 1M and 4M of the default 10M
    steps, backlogs = {}, {}
    steps[0] = _step(ctx, ctx.topic("history-empty"), "history-empty", 0)
    # an archive of its own for each point: a run's verification covers what was committed since it began, so a
    # later run on the same archive would grow an earlier point's range when it is verified again below
    for label, size in (("small", small), ("middle", middle), ("large", rows)):
        topic = ctx.topic(f"history-{label}")
        backlogs[label] = _backlog(ctx, topic, f"history-{label}", size, label)
        steps[size] = _step(ctx, topic, f"history-{label}", size)

    points = _measured(ctx, steps)
    first, last = points[0], points[-1]
    ctx.results |= {
        "history_rows": rows,
        "verify_s_empty": first["verify_s"],
        "verify_s_history": last["verify_s"],
        "verify_rss_mb_empty": first["verify_rss_mb"],
        "verify_rss_mb_history": last["verify_rss_mb"],
        "verify_history_time_ratio": stats.ratio(last["verify_s"], first["verify_s"]),
        "verify_history_rss_ratio": stats.ratio(last["verify_rss_mb"], first["verify_rss_mb"]),
        "backlog_rows": rows,
        "backlog_rows_small": small,
        "driver_rss_mb_backlog": backlogs["large"]["driver_peak_rss_mb"],
        "driver_rss_mb_backlog_1m": backlogs["small"]["driver_peak_rss_mb"],
        "backlog_verify_rss_mb": backlogs["large"]["verify_rss_mb"],
        "backlog_verify_rss_mb_1m": backlogs["small"]["verify_rss_mb"],
    }
    ctx.details["history"] = {
        "points": points,
        "backlogs": backlogs,
        "step_rows": STEP_ROWS,
        "method": "archives of 0, 1M, 4M and history_rows 24-byte messages (kafka-producer-perf-test, then the "
        f"read job); on each, a run adding {STEP_ROWS} messages: its verify_sink in a process of its own, the "
        f"median of {REPEATS} taken in turns over the archives once all are built (time of the call; peak RSS of "
        "the process, sampled every 200 ms). Backlogs: the first run on a topic holding 1M / history_rows "
        "messages, DAG default params, console included",
    }
    return (
        f"verify_sink of {STEP_ROWS} messages: {first['verify_s']:.2f}s / {first['verify_rss_mb']:.0f} MB on an "
        f"empty archive, {last['verify_s']:.2f}s / {last['verify_rss_mb']:.0f} MB on {rows:,} "
        f"(ratios {ctx.results['verify_history_time_ratio']:.2f} / {ctx.results['verify_history_rss_ratio']:.2f}); "
        f"first run on a backlog of {rows:,}: driver JVM {backlogs['large']['driver_peak_rss_mb']:,.0f} MB "
        f"({backlogs['small']['driver_peak_rss_mb']:,.0f} MB for {small:,}), its verify_sink "
        f"{backlogs['large']['verify_s']:.0f}s / {backlogs['large']['verify_rss_mb']:,.0f} MB"
    )
