"""Pure helpers of the benchmark: percentiles, rates, and reading Kafka's perf tools' own output."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# kafka-producer-perf-test's final line:
# "2000000 records sent, 612745.1 records/sec (9.35 MB/sec), 25.61 ms avg latency, 310.00 ms max latency,
#  21 ms 50th, 58 ms 95th, 71 ms 99th, 80 ms 99.9th."
_PRODUCER_FINAL = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99\.9th"
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of ``values``, by linear interpolation between closest ranks (numpy's
    default). Raises ValueError on an empty sequence or q outside 0..100."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: int, seconds: float) -> float | None:
    """count / seconds, or None when the interval is not positive (nothing measurable)."""
    return count / seconds if seconds > 0 else None


def ratio(value: float | None, ceiling: float | None) -> float | None:
    if value is None or not ceiling:
        return None
    return value / ceiling


def parse_producer_perf(output: str) -> dict[str, float]:
    """kafka-producer-perf-test's summary (its last line) as numbers: records, records_per_s, mb_per_s,
    avg/max latency and the latency percentiles it prints (ms). Raises ValueError when there is none."""
    matches = list(_PRODUCER_FINAL.finditer(output))
    if not matches:
        raise ValueError(f"no final summary line in kafka-producer-perf-test output:\n{output[-2000:]}")
    m = matches[-1]
    return {
        "records": int(m["records"]),
        "records_per_s": float(m["rate"]),
        "mb_per_s": float(m["mb"]),
        "avg_latency_ms": float(m["avg"]),
        "max_latency_ms": float(m["max"]),
        "p50_ms": float(m["p50"]),
        "p95_ms": float(m["p95"]),
        "p99_ms": float(m["p99"]),
        "p999_ms": float(m["p999"]),
    }


def parse_consumer_perf(output: str) -> dict[str, float | str]:
    """kafka-consumer-perf-test's result table (a header line of comma-separated names, then one row):
    {name: value}, numbers as floats. Raises ValueError when the table is missing."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.startswith("start.time"):
            names = [n.strip() for n in line.split(",")]
            values = [v.strip() for v in lines[i + 1].split(",")]
            if len(values) != len(names):
                break
            out: dict[str, float | str] = {}
            for name, value in zip(names, values, strict=True):
                try:
                    out[name] = float(value)
                except ValueError:
                    out[name] = value
            return out
    raise ValueError(f"no result table in kafka-consumer-perf-test output:\n{output[-2000:]}")


def first_commit_times(batches: Sequence[tuple[int, int, Sequence[str]]]) -> dict[str, int]:
    """{file: commit time} from a file sink's metadata log, given as (batch id, commit time ms, files listed).

    A compacted log entry repeats every file committed before it: a file's commit time is that of the first
    batch that lists it.
    """
    out: dict[str, int] = {}
    for _, committed_ms, files in sorted(batches, key=lambda b: b[0]):
        for name in files:
            out.setdefault(name, committed_ms)
    return out
