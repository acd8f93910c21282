"""The benchmark's results: JSON (latest and a dated copy), a Markdown table, a chart, docs/performance.md's part.

``python -m bench.report`` rewrites the generated part of docs/performance.md from bench/results/latest.json (no
stack needed), e.g. after the page's hand-written parts changed. README.md is never touched: it links the page.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

# name: (what, comparison, limit)
TARGETS = {
    "write_ratio": ("write job / producer ceiling", ">=", 0.5),
    "read_ratio": ("read job / consumer ceiling", ">=", 0.5),
    "read_to_source_ratio": ("read job / its own Kafka source alone (noop sink)", ">=", 0.6),
    "latency_p99_ms": ("p99 latency at 10k records/s (ms)", "<=", 1000),
    "dag_overhead_ratio": ("orchestration overhead / DAG run", "<=", 0.2),
    "submit_jars_s": ("spark-submit start with --jars, no network (s)", "<=", 8),
    "verify_history_time_ratio": ("verify_sink time: archive of history_rows / empty archive", "<=", 1.2),
    "verify_history_rss_ratio": ("verify_sink peak RSS: archive of history_rows / empty archive", "<=", 1.2),
    "runs_last_first_ratio": ("cost of the last of runs_in_a_row small runs / the first", "<=", 1.2),
    "verify_rss_ratio": ("verify_messages peak RSS: verify_rows rows / 1M rows", "<=", 1.2),
}
REQUIRED = (
    "rows",
    "producer_perf_rows_per_s",
    "consumer_perf_rows_per_s",
    "write_rows_per_s",
    "write_ratio",
    "read_rows_per_s",
    "read_ratio",
    "parse_rows_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "dag_overhead_s",
    "submit_jars_s",
    "submit_packages_s",
    "driver_peak_rss_mb",
    "broker_peak_rss_mb",
    "history_rows",
    "verify_s_empty",
    "verify_s_history",
    "verify_rss_mb_empty",
    "verify_rss_mb_history",
    "driver_rss_mb_backlog",
    "driver_rss_mb_backlog_1m",
    "runs_in_a_row",
    "run_s_first",
    "run_s_last",
    "verify_rows",
    "verify_s",
    "verify_rss_mb",
    "write_rows_per_s_yarn",
    "read_rows_per_s_yarn",
    "write_rows_per_s_yarn_cluster",
    "read_rows_per_s_yarn_cluster",
)
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PERFORMANCE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
# the generated part of PERFORMANCE_PAGE is between these; the rest of the page is written by hand
PAGE_START = "<!-- bench:performance:start (written by make bench: bench/report.py; edit the code, not this part) -->"
PAGE_END = "<!-- bench:performance:end -->"


def _round(value):
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 3) if abs(value) < 100 else round(value, 1)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def target_status(results: dict) -> dict:
    out = {}
    for key, (what, op, limit) in TARGETS.items():
        value = results.get(key)
        holds = None if value is None else (value >= limit if op == ">=" else value <= limit)
        out[key] = {"what": what, "target": f"{op} {limit}", "value": _round(value), "holds": holds}
    return out


def build(
    results: dict,
    details: dict,
    errors: dict,
    *,
    machine: dict,
    versions: dict,
    started_at: datetime,
    seconds: float,
    run_id: str,
) -> dict:
    """The results document: every required key (None when not measured), machine, versions, targets."""
    flat = {key: results.get(key) for key in REQUIRED} | results
    return _round(
        {
            "run_id": run_id,
            "started_at": started_at.isoformat(timespec="seconds"),
            "bench_seconds": seconds,
            **flat,
            "machine": machine,
            "versions": versions,
            "targets": target_status(results),
            "not_measured": sorted(k for k in REQUIRED if results.get(k) is None),
            "errors": errors,
            "details": details,
        }
    )


# --------------------------------------------------------------------------------------------- text


def _n(value, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "not measured"
    return f"{value:,.{digits}f}{unit}"


def _holds(doc: dict, key: str) -> str:
    holds = doc["targets"].get(key, {}).get("holds")  # (a target added after the run was published: n/a)
    return "n/a" if holds is None else ("yes" if holds else "**no**")


def _ratio(value) -> str:
    return "not measured" if value is None else f"{value:.2f}"


def markdown_table(doc: dict) -> str:
    d, det = doc, doc.get("details", {})
    write, read, lat, orch, hist = (det.get(k, {}) for k in ("write", "read", "latency", "orchestration", "history"))
    rows = [
        ("broker ceiling: kafka-producer-perf-test", _n(d["producer_perf_rows_per_s"], " rec/s"), "", ""),
        ("broker ceiling: kafka-consumer-perf-test", _n(d["consumer_perf_rows_per_s"], " rec/s"), "", ""),
        (
            "write job: HDFS CSV → Spark → Kafka",
            _n(d["write_rows_per_s"], " rec/s"),
            f"write_ratio {_ratio(d['write_ratio'])} (≥ 0.5)",
            _holds(d, "write_ratio"),
        ),
        (
            "read job: Kafka → Spark → Parquet on HDFS",
            _n(d["read_rows_per_s"], " rec/s"),
            f"read_ratio {_ratio(d['read_ratio'])} (≥ 0.5)",
            _holds(d, "read_ratio"),
        ),
        (
            "… the same read in two halves: the second, in a warm JVM",
            _n(d.get("read_warm_rows_per_s"), " rec/s"),
            f"ratio {_ratio(d.get('read_warm_ratio'))} (first half, cold: "
            f"{_n(det.get('read_halves', {}).get('cold_rows_per_s'), ' rec/s')})",
            "",
        ),
        (
            "read ceiling: Spark's Kafka source alone (the read job's options) → noop sink, fresh spark-submit",
            _n(d.get("read_source_rows_per_s"), " rec/s"),
            f"ratio {_ratio(d.get('read_source_ratio'))}: the read job's ceiling; its projection + Parquet = "
            + (
                f"{d['parquet_sink_share_of_read']:.0%} of the read batch"
                if d.get("parquet_sink_share_of_read") is not None
                else "not measured"
            ),
            "",
        ),
        (
            "write job on YARN, client / cluster deploy mode (one executor of 2 cores; same CSV, same rate)",
            f"{_n(d.get('write_rows_per_s_yarn'), ' rec/s')} / {_n(d.get('write_rows_per_s_yarn_cluster'), ' rec/s')}",
            f"local[*] {_n(d.get('write_rows_per_s'), ' rec/s')}: ratio {_ratio(d.get('write_yarn_to_local_ratio'))}"
            f" / {_ratio(d.get('write_yarn_cluster_to_local_ratio'))}",
            "",
        ),
        (
            "read job on YARN, client / cluster deploy mode (same topic size, same rate)",
            f"{_n(d.get('read_rows_per_s_yarn'), ' rec/s')} / {_n(d.get('read_rows_per_s_yarn_cluster'), ' rec/s')}",
            f"local[*] {_n(d.get('read_rows_per_s'), ' rec/s')}: ratio {_ratio(d.get('read_yarn_to_local_ratio'))}"
            f" / {_ratio(d.get('read_yarn_cluster_to_local_ratio'))}",
            "",
        ),
        (
            "parse ceiling: write job's parsing → noop sink",
            _n(d["parse_rows_per_s"], " rec/s"),
            "Kafka sink = "
            + (
                f"{d['kafka_sink_share_of_write']:.0%} of the write batch"
                if d.get("kafka_sink_share_of_write") is not None
                else "not measured"
            ),
            "",
        ),
        (
            f"latency at {lat.get('rate_per_s', 10_000):,} rec/s (p50 / p99)",
            f"{_n(d['latency_p50_ms'], ' ms')} / {_n(d['latency_p99_ms'], ' ms')}",
            "p99 ≤ 1000 ms",
            _holds(d, "latency_p99_ms"),
        ),
        (
            f"orchestration: `airflow dags test` vs bare ({orch.get('rows', 1000):,} rows)",
            f"{_n(d.get('dag_run_s'), ' s', 1)} vs {_n(d.get('bare_run_s'), ' s', 1)}",
            f"overhead {_n(d['dag_overhead_s'], ' s', 1)} = "
            + ("not measured" if d.get("dag_overhead_ratio") is None else f"{d['dag_overhead_ratio']:.0%}")
            + " (≤ 20%)",
            _holds(d, "dag_overhead_ratio"),
        ),
        (
            "… `airflow dags test` of a one-task no-op DAG (the floor of that overhead)",
            _n(d.get("dags_test_floor_s"), " s", 1),
            f"20% allows {_n(d.get('dag_overhead_budget_s'), ' s', 1)} (bare / 4)",
            "",
        ),
        (
            "spark-submit start (median of 3): --jars (no network) / --packages (cold Ivy)",
            f"{_n(d['submit_jars_s'], ' s', 1)} / {_n(d['submit_packages_s'], ' s', 1)}",
            "--jars ≤ 8 s",
            _holds(d, "submit_jars_s"),
        ),
        (
            "… the read job against its own source alone (median of 3 turns, each ratio within its turn)",
            _ratio(d.get("read_to_source_ratio")),
            "read_rows_per_s / read_source_rows_per_s ≥ 0.6",
            _holds(d, "read_to_source_ratio"),
        ),
        (
            "… for reference: the archive's shape before issue #16 (strings, Spark's file sink, no console) on "
            "the same source (median of the same turns)",
            _ratio(d.get("read_string_archive_to_source_ratio")),
            f"first turn: {_n(d.get('read_string_archive_rows_per_s'), ' rec/s')} against the job's "
            f"{_n(d.get('read_rows_per_s'), ' rec/s')}",
            "",
        ),
        (
            f"verify_sink of {hist.get('step_rows', 1000):,} messages: empty archive / {_n(d.get('history_rows'))}"
            " messages",
            f"{_n(d.get('verify_s_empty'), ' s', 2)} / {_n(d.get('verify_s_history'), ' s', 2)}",
            f"time ratio {_ratio(d.get('verify_history_time_ratio'))} (≤ 1.2)",
            _holds(d, "verify_history_time_ratio"),
        ),
        (
            "… its peak RSS (a process of its own): empty / history",
            f"{_n(d.get('verify_rss_mb_empty'), ' MB')} / {_n(d.get('verify_rss_mb_history'), ' MB')}",
            f"RSS ratio {_ratio(d.get('verify_history_rss_ratio'))} (≤ 1.2)",
            _holds(d, "verify_history_rss_ratio"),
        ),
        (
            f"first run on a backlog, default params: driver JVM peak RSS, 1M / {_n(d.get('backlog_rows'))} messages",
            f"{_n(d.get('driver_rss_mb_backlog_1m'), ' MB')} / {_n(d.get('driver_rss_mb_backlog'), ' MB')}",
            f"its verify_sink: {_n(d.get('backlog_verify_rss_mb_1m'), ' MB')} / "
            f"{_n(d.get('backlog_verify_rss_mb'), ' MB')}",
            "",
        ),
        (
            f"{_n(d.get('runs_in_a_row'))} small runs in a row on one topic: first / last (median of 5)",
            f"{_n(d.get('run_s_first'), ' s', 1)} / {_n(d.get('run_s_last'), ' s', 1)}",
            f"ratio {_ratio(d.get('runs_last_first_ratio'))} (≤ 1.2)",
            _holds(d, "runs_last_first_ratio"),
        ),
        (
            f"write verification (verify_messages, a process of its own): 1M / {_n(d.get('verify_rows'))} rows",
            f"{_n(d.get('verify_s_small'), ' s', 1)}, {_n(d.get('verify_rss_mb_small'), ' MB')} / "
            f"{_n(d.get('verify_s'), ' s', 1)}, {_n(d.get('verify_rss_mb'), ' MB')}",
            f"RSS ratio {_ratio(d.get('verify_rss_ratio'))} (≤ 1.2)",
            _holds(d, "verify_rss_ratio"),
        ),
        (
            "peak RSS during write + read: Spark driver JVM / broker",
            f"{_n(d['driver_peak_rss_mb'], ' MB')} / {_n(d['broker_peak_rss_mb'], ' MB')}",
            "",
            "",
        ),
    ]
    lines = ["| measured | value | against | holds |", "|---|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {e} |" for a, b, c, e in rows]
    extra = []
    if write:
        extra.append(
            f"whole write spark-submit {_n(write.get('submit_s'), ' s', 1)} "
            f"({_n(d.get('write_submit_rows_per_s'), ' rec/s')})"
        )
    if read:
        extra.append(
            f"whole read spark-submit {_n(read.get('submit_s'), ' s', 1)} "
            f"({_n(d.get('read_submit_rows_per_s'), ' rec/s')})"
        )
    if d.get("write_submit_s_yarn") is not None or d.get("write_submit_s_yarn_cluster") is not None:
        extra.append(
            "on YARN, from spark-submit to the application's end (client / cluster mode): write "
            f"{_n(d.get('write_submit_s_yarn'), ' s', 1)} / {_n(d.get('write_submit_s_yarn_cluster'), ' s', 1)}, "
            f"read {_n(d.get('read_submit_s_yarn'), ' s', 1)} / {_n(d.get('read_submit_s_yarn_cluster'), ' s', 1)}"
        )
    if extra:
        lines.append("")
        lines.append("Including JVM and session start: " + "; ".join(extra) + ".")
    return "\n".join(lines)


def header(doc: dict) -> str:
    m, v = doc["machine"], doc["versions"]
    return (
        f"Run `{doc['run_id']}` ({doc['started_at']}), {doc['rows']:,} rows, `make bench` took "
        f"{doc['bench_seconds'] / 60:.1f} min. Machine: {m['cores']} cores, {m['memory_gb']} GB "
        f"(1-min load {m['load_avg_1m_at_start']} at start, {m.get('load_avg_1m_at_end', '?')} at end: shared with "
        f"other work). Kafka {v['kafka']}, Spark {v['spark']}, "
        f"Airflow {v['airflow']}, Python {v['python']}."
    )


METHOD = """\
How each figure is measured (all in the same run, on the same machine, so the ratios hold even when the
absolute numbers move with the machine's load):

- **Ceilings**: Kafka's own `kafka-producer-perf-test` (acks=all and the write job's `PRODUCER_OPTIONS`,
  record size = the average players row, throughput unlimited) and `kafka-consumer-perf-test` on a fresh
  1-partition topic (the DAG default). The consumer figure is its fetch rate (`fetch.nMsg.sec`, group join
  excluded: Spark's source joins no group).
- **Write job**: a generated CSV (deterministic seed, Unicode names in 14 scripts, all rows valid) uploaded
  to HDFS, then `jobs/write_to_kafka.py` with the DAG's exact spark-submit command (built by
  SparkSubmitOperator's hook from `include/plans.py`). Rate = records / (last − first record's Kafka
  timestamp); the whole spark-submit is reported too. `write_ratio` = rate / producer ceiling.
- **Read job**: that topic → `jobs/read_from_kafka.py (with console)` → Parquet, one micro-batch as the DAG
  runs it. Rate = rows / Spark's `addBatch` time (the tasks that read Kafka and write Parquet, from the job's
  `batch progress:` lines), the counterpart of the consumer tool's fetch rate. `read_ratio` = rate / consumer
  ceiling. Then the same job reads the topic again with `--max-offsets-per-trigger` = rows/2: the first
  half runs in a cold JVM, the second in a warm one; their rates show how much of the figure is the JVM's
  warm-up (class loading, interpreted code until the JIT has compiled it), which every spark-submit pays.
- **Read ceiling**: `bench/apps/read_source.py noop` with the read job's own arguments: the job's `kafka_stream`
  (its consumer options and task splitting) into Spark's `noop` sink, in a fresh spark-submit like the job's,
  rows / `addBatch`. Every record is fetched and made a Spark row; nothing is projected or written. The read
  job cannot go faster than this in one spark-submit; what it adds is its projection and the Parquet files
  on HDFS. For reference, `bench/apps/read_source.py string-archive` runs the same source into the archive's
  shape before issue #16 (strings, Spark's Parquet file sink, no console, headers, dates or staging), rows /
  `addBatch` likewise: what a plain string archive reaches against the same ceiling. The job against its source
  (and the earlier shape against it) is taken in three turns of job, source and earlier shape, each a fresh
  spark-submit (the read stage's run is the first turn's job): each turn gives its own ratio and the table shows
  their median, so that the machine's speed, which moves by a third between runs here, moves both sides alike.
- **On YARN**: the same CSV and rows through the same write and read jobs, with the DAG's spark-submit for a
  `spark_default` of host `yarn` (client, then cluster deploy mode), on the single profile's YARN: a
  ResourceManager and one NodeManager on the stack's HDFS, started by the stage when down and stopped after;
  one executor of 2 cores and 1 GB (local[*] has 2 task threads in a 1 GB driver). Rates computed as above:
  the read job's `batch progress:` lines come from spark-submit's output (client) or the driver container's
  log (cluster). The ratio is to local[*]'s rate in the same run; the seconds run from spark-submit's start
  to the application's end in the ResourceManager.
- **Parse ceiling**: the same CSV through `parse_lines → to_valid_messages` (both passes) into Spark's `noop`
  sink (action time only).
- **Latency**: `kafka-producer-perf-test --throughput` at a fixed rate for warm-up + measured seconds while
  the read job runs in processingTime mode. Per record: commit time of the batch that holds it
  (modification time of its commit entry `_archive_log/<batch>.json` on HDFS; its files are visible to
  readers right after) minus its
  Kafka timestamp (CreateTime, set by the producer at send). Producer and NameNode share this machine's
  clock. Records of the first warm-up seconds are left out of p50/p99 (JIT, first Parquet writer);
  `details.latency.p99_all_records_ms` in the JSON includes them.
- **Orchestration**: `airflow dags test write_to_kafka` (the Makefile's environment, as `make run`) on a
  small file vs. `python -m bench.bare_write`: the same functions and the same spark-submit command in a
  plain process. Overhead = difference, as a share of the DAG run; 20% of the DAG run allows at most bare / 4.
  Its floor: `airflow dags test` of `bench/dags/bench_noop.py`, one task that does nothing, in a throwaway
  Airflow home.
- **spark-submit start**: a tiny app that builds the session and resolves `format("kafka")`; with the
  pre-resolved `--jars` inside a network namespace with loopback only (the median of 3 runs; each is in the
  JSON), and with `--packages` and an empty
  temporary Ivy cache (`spark.jars.ivy`), downloading from Maven Central.
- **Peak RSS**: `psutil` every 200 ms on the driver JVM (`SparkSubmit`; executors share it in local mode)
  and on the process listening on the Kafka port, during the write and read jobs.
- **Cost against history**: archives of 0, 1M, 4M and `history_rows` 24-byte messages (Kafka's perf
  producer, then the read job with the DAG's default params); on each, a run that adds 1,000 messages, whose
  `verify_sink` runs in a process of its own as Airflow runs a task (`bench/task.py`): the call's time and the
  process's peak RSS, the median of 7 taken in turns over the four archives once all are built (verify
  only reads; a machine still busy after building 10M weighs on every point alike). The runs that built the
  1M and `history_rows` archives are the backlog figures: a first run on a topic holding that many
  messages, console included.
- **Runs in a row**: `runs_in_a_row` runs on one topic, each adding 1,000 messages: `record_offsets` +
  the job's spark-submit + `verify_sink` (its own process); first and last = the median of the first and of
  the last 5 runs. `details.runs.after` counts the logs that grew meanwhile."""


def markdown(doc: dict) -> str:
    parts = [
        "# Benchmark: latest run",
        "",
        header(doc),
        "",
        markdown_table(doc),
        "",
        "![throughput against the ceilings, and latency](latest.png)",
        "",
    ]
    if doc.get("errors"):
        parts += ["**Stages that failed (their figures are not measured):**", ""]
        parts += [f"- {stage}: {message.splitlines()[0][:300]}" for stage, message in doc["errors"].items()]
        parts.append("")
    parts += [METHOD, "", "Every figure, with the details, is in `latest.json`; each run keeps a dated copy.", ""]
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------- chart


def chart(doc: dict, latencies: Sequence[float] | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, hist, growth) = plt.subplots(1, 3, figsize=(17, 4.6), gridspec_kw={"width_ratios": [1.15, 1, 0.9]})
    groups = [
        ("write to Kafka", doc["producer_perf_rows_per_s"], doc["write_rows_per_s"], "write job"),
        ("read from Kafka", doc["consumer_perf_rows_per_s"], doc["read_rows_per_s"], "read job"),
        ("read: source alone", doc["consumer_perf_rows_per_s"], doc.get("read_source_rows_per_s"), "noop sink"),
        ("parse CSV", None, doc["parse_rows_per_s"], "noop sink"),
    ]
    y = list(range(len(groups)))[::-1]
    for pos, (_, ceiling, value, label) in zip(y, groups, strict=True):
        if ceiling:
            bars.barh(pos + 0.2, ceiling, height=0.38, color="#b8b8b8")
            bars.text(ceiling, pos + 0.2, f" Kafka perf tool {ceiling:,.0f}", va="center", fontsize=8)
        if value:
            bars.barh(pos - 0.2, value, height=0.38, color="#2a7ab9")
            share = f" ({value / ceiling:.2f}×)" if ceiling else ""
            bars.text(value, pos - 0.2, f" {label} {value:,.0f}{share}", va="center", fontsize=8)
    bars.set_yticks(y, [g[0] for g in groups])
    top = max([v for g in groups for v in g[1:3] if v] or [1])
    bars.set_xlim(0, top * 1.6)
    bars.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:,.0f}k")
    bars.set_xlabel("records / s")
    bars.set_title(f"Throughput against Kafka's own perf tools\n{doc['rows']:,} records", fontsize=10)
    bars.grid(axis="x", alpha=0.3)
    if latencies:
        upper = max(1000.0, sorted(latencies)[int(len(latencies) * 0.999) - 1] * 1.1)
        hist.hist([min(v, upper) for v in latencies], bins=60, range=(0, upper), color="#2a7ab9")
        for value, label, style, height in (
            (doc["latency_p50_ms"], "p50", "--", 0.97),
            (doc["latency_p99_ms"], "p99", "-", 0.89),
            (1000, "target p99", ":", 0.81),
        ):
            if value is not None:
                hist.axvline(value, color="#c0392b" if label != "p50" else "#333", linestyle=style)
                hist.text(value, hist.get_ylim()[1] * height, f" {label} {value:,.0f} ms", fontsize=8, va="top")
        lat = doc.get("details", {}).get("latency", {})
        hist.set_title(
            f"Latency: Kafka timestamp → committed to Parquet\n{lat.get('rate_per_s', 0):,} rec/s, "
            f"{len(latencies):,} records",
            fontsize=10,
        )
        hist.set_xlabel("ms")
        hist.set_ylabel("records")
    else:
        hist.text(0.5, 0.5, "latency not measured", ha="center", va="center", transform=hist.transAxes)
        hist.set_axis_off()
    history_chart(growth, doc.get("details", {}).get("history", {}).get("points"))
    fig.suptitle(f"make bench, {doc['started_at']}: {doc['machine']['cores']} cores", fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    with path.open("wb") as out:
        fig.savefig(out, format="png", dpi=110)
    plt.close(fig)


def history_chart(axis, points: Sequence[dict] | None) -> None:
    """verify_sink time and peak RSS of a small run against the archive's history."""
    if not points:
        axis.text(0.5, 0.5, "history not measured", ha="center", va="center", transform=axis.transAxes)
        axis.set_axis_off()
        return
    xs = [p["history_rows"] / 1e6 for p in points]
    axis.plot(xs, [p["verify_s"] for p in points], "o-", color="#2a7ab9", label="verify_sink time (s)")
    axis.set_xlabel("messages already archived (millions)")
    axis.set_ylabel("s", color="#2a7ab9")
    axis.set_ylim(0, max(p["verify_s"] for p in points) * 1.5)
    rss = axis.twinx()
    rss.plot(xs, [p["verify_rss_mb"] for p in points], "s--", color="#c0392b", label="peak RSS (MB)")
    rss.set_ylabel("MB", color="#c0392b")
    rss.set_ylim(0, max(p["verify_rss_mb"] for p in points) * 1.5)
    axis.set_title("verify_sink of a 1,000-message run\nagainst the archive's history", fontsize=10)
    axis.legend(loc="lower left", fontsize=8)
    rss.legend(loc="lower right", fontsize=8)
    axis.grid(alpha=0.3)


# -------------------------------------------------------------------------------------------- files


def write(doc: dict, results_dir: Path, latencies: Sequence[float] | None) -> list[Path]:
    """latest.json, a dated copy, latest.md, latest.png; each written to a temporary name, then renamed."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["started_at"].replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    text = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    outputs = {
        results_dir / "latest.json": text,
        results_dir / f"{stamp}.json": text,
        results_dir / "latest.md": markdown(doc),
    }
    for path, content in outputs.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        tmp.replace(path)
    png = results_dir / "latest.png"
    tmp = png.with_name("latest.png.tmp")
    chart(doc, latencies, tmp)  # (a file object: matplotlib would take ".tmp" for the format)
    tmp.replace(png)
    return [*outputs, png]


def _dated_runs(results_dir: Path) -> list[dict]:
    """Every published run's document (the dated copies), oldest first."""
    docs = []
    for path in sorted(results_dir.glob("[0-9]*.json")):
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(docs, key=lambda d: d.get("started_at", ""))


def history_table(runs: Sequence[dict]) -> str:
    """One row per published run: its id, date, size and the target ratios (compare within a run, not across)."""
    lines = [
        "| run | started | rows | write_ratio | read_ratio | p99 latency | orchestration overhead | --jars start |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d in runs:
        overhead = d.get("dag_overhead_ratio")
        lines.append(
            f"| `{d.get('run_id', '?')}` | {d.get('started_at', '?')} | {_n(d.get('rows'))} "
            f"| {_ratio(d.get('write_ratio'))} | {_ratio(d.get('read_ratio'))} | {_n(d.get('latency_p99_ms'), ' ms')} "
            f"| {'not measured' if overhead is None else f'{overhead:.0%}'} | {_n(d.get('submit_jars_s'), ' s', 1)} |"
        )
    return "\n".join(lines)


def performance_section(doc: dict, runs: Sequence[dict] = ()) -> str:
    """The generated part of docs/performance.md (links relative to docs/), markers included."""
    parts = [
        PAGE_START,
        "## The latest run",
        "",
        header(doc),
        "",
        markdown_table(doc),
        "",
        "![throughput against the ceilings, and latency](../bench/results/latest.png)",
        "",
        "How each figure is measured: [bench/results/latest.md](../bench/results/latest.md); every figure: "
        "[bench/results/latest.json](../bench/results/latest.json).",
    ]
    if runs:
        parts += [
            "",
            "## Every published run",
            "",
            "Each `make bench` keeps a dated copy of its JSON in `bench/results/`. The methods changed between "
            "runs (the git log of `bench/` says how), and the machine is shared: compare figures within a run, "
            "not across runs.",
            "",
            history_table(runs),
        ]
    return "\n".join([*parts, PAGE_END])


def update_performance_page(doc: dict, page: Path = PERFORMANCE_PAGE, results_dir: Path = RESULTS_DIR) -> None:
    """Replace the generated part of the performance page between its markers, keeping the hand-written rest.

    A page without the markers gets the part appended; a missing page is created with a title.
    """
    text = page.read_text() if page.exists() else "# Performance\n"
    section = performance_section(doc, _dated_runs(results_dir))
    pattern = re.compile(re.escape(PAGE_START) + r".*?" + re.escape(PAGE_END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    tmp = page.with_name(page.name + ".bench.tmp")
    tmp.write_text(text)
    tmp.replace(page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite docs/performance.md's generated part from a results JSON.")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--page", type=Path, default=PERFORMANCE_PAGE)
    args = parser.parse_args(argv)
    doc = json.loads((args.results_dir / "latest.json").read_text())
    update_performance_page(doc, args.page, args.results_dir)
    print(f"{args.page}: generated part rewritten from {args.results_dir / 'latest.json'} ({doc['run_id']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
