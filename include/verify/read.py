"""read_from_kafka: does the archive hold every message of the verified offset range exactly once?

The messages of the topic in the range are read with a consumer and looked up in the committed Parquet files
of the sink (from the sink's ``_spark_metadata``), by (partition, offset). What a query can no longer read
(retention, a recreated topic) is told here too, and the floor it leaves is kept next to the checkpoint.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from dataclasses import dataclass

from include.hdfs import spark_logs
from include.hdfs.client import read_bytes
from include.kafka import admin, reader
from include.verify.diff import SHOW, VerificationFailed, fmt
from include.verify.write import decode

log = logging.getLogger(__name__)


@dataclass
class SinkReport:
    checked: int
    missing: list[tuple]
    wrong: list[tuple]
    duplicated: list[tuple]
    sink_rows: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong or self.duplicated)

    def summary(self) -> dict:
        diff = []
        for label, items in (
            ("missing from the sink", self.missing),
            ("in the sink with other key/value", self.wrong),
            ("in the sink more than once", self.duplicated),
        ):
            if items:
                diff.append(f"{len(items)} message(s) {label} (partition | offset | key | value):")
                diff += [f"  {fmt(i)}" for i in items[:SHOW]]
                if len(items) > SHOW:
                    diff.append(f"  ... and {len(items) - SHOW} more")
        return {
            "checked": self.checked,
            "sink_rows": self.sink_rows,
            "missing": len(self.missing),
            "wrong": len(self.wrong),
            "duplicated": len(self.duplicated),
            "diff": diff,
        }


def read_sink(hdfs, output_dir: str, topic: str, topic_id: str | None = None) -> list[dict]:
    """Rows of the committed Parquet files of the sink for ``topic`` (and, if given, that incarnation of it),
    read with pyarrow, not Spark."""
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for path in spark_logs.sink_files(hdfs, output_dir):
        table = pq.read_table(io.BytesIO(read_bytes(hdfs, path)))
        rows += [r for r in table.to_pylist() if r.get("topic") == topic and topic_id in (None, r.get("topic_id"))]
    return rows


def verify_sink(
    config: dict[str, str],
    hdfs,
    topic: str,
    output_dir: str,
    ranges: dict[str, list[int]],
    timeout_s: float,
    topic_id: str | None = None,
) -> SinkReport:
    """Every message with ranges[p][0] <= offset < ranges[p][1] is in the sink exactly once, with its key and
    value; and no (partition, offset) appears twice anywhere in the sink."""
    admin.check_broker(config)
    start = {int(p): int(r[0]) for p, r in ranges.items()}
    end = {int(p): int(r[1]) for p, r in ranges.items()}
    expected = {
        (r.partition, r.offset): (decode(r.key), decode(r.value))
        for r in reader.read_range(config, topic, start, end, timeout_s)
    }
    sink = read_sink(hdfs, output_dir, topic, topic_id)
    seen = Counter((int(r["partition"]), int(r["offset"])) for r in sink)
    by_id = {(int(r["partition"]), int(r["offset"])): (r["key"], r["value"]) for r in sink}
    missing, wrong = [], []
    for pid, kv in sorted(expected.items()):
        if pid not in by_id:
            missing.append((*pid, *kv))
        elif by_id[pid] != kv:
            wrong.append((*pid, *by_id[pid]))
    duplicated = [(*pid, *by_id[pid]) for pid, n in sorted(seen.items()) if n > 1]
    return SinkReport(len(expected), missing, wrong, duplicated, len(sink))


def offsets_gone(committed: dict[int, int] | None, marks: dict[int, tuple[int, int]]) -> list[str]:
    """What a query that stopped at ``committed`` can no longer read, per partition, in words.

    Offsets below the topic's low watermark were deleted (retention); a high watermark below the committed
    offset means the topic was deleted and recreated.
    """
    gone = []
    for partition, offset in sorted((committed or {}).items()):
        if partition not in marks:
            gone.append(f"partition {partition} no longer exists (the query had read up to offset {offset})")
            continue
        low, high = marks[partition]
        if high < offset:
            gone.append(
                f"partition {partition}: the query had read up to offset {offset} but the topic now ends at {high} "
                "(was it deleted and recreated?)"
            )
        elif low > offset:
            gone.append(f"partition {partition}: offsets {offset}..{low - 1} ({low - offset} message(s)) were deleted")
    return gone


INCARNATION_FILE = "_topic_incarnation.json"


def _incarnation_path(checkpoint: str) -> str:
    return f"{spark_logs.hdfs_path(checkpoint).rstrip('/')}/{INCARNATION_FILE}"


def read_incarnation(hdfs, checkpoint: str) -> dict | None:
    """{"topic_id", "floor": {partition: first offset the archive owes}} of the topic the query last read."""
    path = _incarnation_path(checkpoint)
    if hdfs.status(path, strict=False) is None:
        return None
    return json.loads(read_bytes(hdfs, path))


def write_incarnation(hdfs, checkpoint: str, topic_id: str, floor: dict[int, int]) -> None:
    """Keep, next to the query's checkpoint, which incarnation of the topic it reads and the floor the
    verification starts from (read back by ``read_incarnation`` on the next run)."""
    hdfs.write(
        _incarnation_path(checkpoint),
        data=json.dumps({"topic_id": topic_id, "floor": {str(p): o for p, o in floor.items()}}).encode(),
        overwrite=True,
    )


def data_loss(
    topic: str,
    marks: dict[int, tuple[int, int]],
    current_id: str,
    committed: dict[int, int] | None,
    known: dict | None,
) -> tuple[list[str], dict[int, int]]:
    """What the query can no longer read, in words, and the floor the verification starts from.

    Losses: offsets deleted by retention before the query read them, and a topic deleted and recreated (its
    id changed: the query resumes in the new topic where Spark can, and what it skips there is lost).
    """
    floor = {int(p): int(o) for p, o in (known or {}).get("floor", {}).items()}
    if known and known["topic_id"] != current_id:
        resume = {p: min((committed or {}).get(p, 0), high) for p, (_, high) in marks.items()}
        gone = [
            f"topic {topic} was deleted and recreated (id {known['topic_id']} -> {current_id}); in the new topic, "
            + ", ".join(f"partition {p} offsets 0..{o - 1}" for p, o in sorted(resume.items()) if o > 0)
            + " will not be read by this query"
            if any(resume.values())
            else f"topic {topic} was deleted and recreated (id {known['topic_id']} -> {current_id})"
        ]
        return gone, resume
    return offsets_gone(committed, marks), floor


def sink_ranges(
    low: dict[str, int], end: dict[str, int], floor: dict[str, int], started: dict[int, int]
) -> dict[str, list[int]]:
    """Per partition, the offsets the archive must hold: from where the query started (or, if later, the
    earliest offset still in the topic, or the floor left by an accepted data loss) up to the end recorded
    just before the job."""
    return {p: [max(int(low[p]), started.get(int(p), 0), int(floor.get(p, 0))), int(stop)] for p, stop in end.items()}


def check_archive(
    config: dict[str, str],
    hdfs,
    topic: str,
    output_dir: str,
    ranges: dict[str, list[int]],
    topic_id: str,
    timeout_s: float = 120,
) -> dict:
    """read_from_kafka's check; raises VerificationFailed with the diff, returns the counts and the ranges."""
    report = verify_sink(config, hdfs, topic, output_dir, ranges, timeout_s, topic_id)
    summary = report.summary()
    if not report.ok:
        raise VerificationFailed(
            f"archive {output_dir} does not hold every message of {topic} exactly once:\n" + "\n".join(summary["diff"])
        )
    log.info("archive %s holds all %d message(s) of %s in %s exactly once", output_dir, report.checked, topic, ranges)
    return {k: v for k, v in summary.items() if k != "diff"} | {"ranges": ranges}
