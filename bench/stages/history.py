"""8: cost against history. A run's cost must grow with what it adds, never with the archive behind it.

Archives of 0, a tenth, two fifths and all of ``BENCH_HISTORY_ROWS`` messages (0, 1M, 4M, 10M) are built with
Kafka's perf producer and the read job (24-byte records); on each, a run that adds ``STEP_ROWS``: its
verify_sink (in a process of its own, as Airflow runs a task) is timed and its peak RSS sampled, the median of
``REPEATS`` runs of the task (verify only reads). The runs that build the archives give the backlog figures:
the first run on a topic holding a tenth of ``BENCH_HISTORY_ROWS``, and on one holding all of it, each with
the DAG's default params and its console: the Spark driver JVM's peak RSS, and the verify_sink of that backlog.
"""

from __future__ import annotations

import os
import statistics

from bench import stats
from bench.stages.common import Context, perf_produce, produce_small, read_once, run_task

DEFAULT_HISTORY_ROWS = 10_000_000
STEP_ROWS = 1_000
REPEATS = 5


def history_rows() -> int:
    return int(os.environ.get("BENCH_HISTORY_ROWS", DEFAULT_HISTORY_ROWS))


def _measured_step(ctx: Context, topic: str, output: str, history: int, label: str) -> dict:
    """Add STEP_ROWS to a topic whose archive holds ``history`` messages; read them; verify_sink REPEATS times."""
    produce_small(ctx, topic, STEP_ROWS)
    params = {"topic": topic, "output_dir": ctx.home(output)}
    run = read_once(ctx, params, ctx.work / f"history-{label}")
    if run.rows != STEP_ROWS:
        raise RuntimeError(f"the run on a history of {history:,} verified {run.rows} messages, not {STEP_ROWS}")
    # verify_sink again on the same run, with its plan and recorded offsets (it only reads)
    again = [run.verify]
    for i in range(REPEATS - 1):
        again.append(run_task(run.plan, run.recorded, ctx.work / f"history-{label}-again{i}.verify.log"))
    return {
        "history_rows": history,
        "verify_s": statistics.median(t.seconds for t in again),
        "verify_rss_mb": statistics.median(t.peak_rss_mb or 0 for t in again),
        "verify_s_each": [round(t.seconds, 3) for t in again],
        "verify_rss_mb_each": [t.peak_rss_mb for t in again],
        "run_s": run.run_s,
    }


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
    points, backlogs = [], {}

    empty = ctx.topic("history-empty")
    points.append(_measured_step(ctx, empty, "history-empty", 0, "0"))

    grown = ctx.topic("history-grown")
    backlogs["small"] = _backlog(ctx, grown, "history-grown", small, "1m")
    points.append(_measured_step(ctx, grown, "history-grown", small, "1m"))
    perf_produce(ctx, grown, middle - small - STEP_ROWS)
    filled = read_once(ctx, {"topic": grown, "output_dir": ctx.home("history-grown")}, ctx.work / "history-4m-fill")
    if filled.rows != middle - small - STEP_ROWS:
        raise RuntimeError(f"the run that grows the archive to {middle:,} verified {filled.rows:,}")
    points.append(_measured_step(ctx, grown, "history-grown", middle, "4m"))

    big = ctx.topic("history-big")
    backlogs["large"] = _backlog(ctx, big, "history-big", rows, "large")
    points.append(_measured_step(ctx, big, "history-big", rows, "large"))

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
        f"median of {REPEATS} (time of the call; peak RSS of the process, sampled every 200 ms). Backlogs: the "
        "first run on a topic holding 1M / history_rows messages, DAG default params, console included",
    }
    return (
        f"verify_sink of {STEP_ROWS} messages: {first['verify_s']:.2f}s / {first['verify_rss_mb']:.0f} MB on an "
        f"empty archive, {last['verify_s']:.2f}s / {last['verify_rss_mb']:.0f} MB on {rows:,} "
        f"(ratios {ctx.results['verify_history_time_ratio']:.2f} / {ctx.results['verify_history_rss_ratio']:.2f}); "
        f"first run on a backlog of {rows:,}: driver JVM {backlogs['large']['driver_peak_rss_mb']:,.0f} MB "
        f"({backlogs['small']['driver_peak_rss_mb']:,.0f} MB for {small:,}), its verify_sink "
        f"{backlogs['large']['verify_s']:.0f}s / {backlogs['large']['verify_rss_mb']:,.0f} MB"
    )
