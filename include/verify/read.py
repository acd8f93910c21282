"""read_from_kafka: does the archive hold every message of this run's offset range exactly once, byte for byte?

A run's range, per partition: from the offsets the query's checkpoint held before the job to those it holds
after (Spark's offset log of the last committed batch). The run's files: those the commit entries of its
batches list (after the batch committed before the job, up to the last one after). Both sides are streamed in
(partition, offset) order and walked side by side: memory holds a row group per open file, whatever the
range. Ranges of consecutive runs tile the topic: a run starts where the checkpoint says the last one ended.
What a query can no longer read (retention, a recreated topic) is told here too, and the floor it leaves is
kept next to the checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from include.hdfs import archive, spark_logs
from include.hdfs.client import read_json, write_json
from include.kafka import reader
from include.verify.diff import SHOW, VerificationFailed, fmt

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0
KINDS = ("missing", "wrong", "duplicated", "unexpected")


@dataclass
class ArchiveReport:
    """The side-by-side walk's counts, and the first SHOW rows of each kind of difference."""

    checked: int = 0
    archived: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    shown: dict[str, list[tuple]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    def add(self, kind: str, row: tuple) -> None:
        self.counts[kind] += 1
        if len(self.shown[kind]) < SHOW:
            self.shown[kind].append(row)

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def diff(self) -> list[str]:
        labels = {
            "missing": "missing from the archive",
            "wrong": "in the archive with other bytes (key, value, headers or topic)",
            "duplicated": "in the archive more than once",
            "unexpected": "in the archive but not in this run's range",
        }
        lines = []
        for kind, label in labels.items():
            if self.counts[kind]:
                lines.append(f"{self.counts[kind]} message(s) {label} (partition | offset | key | value | headers):")
                lines += [f"  {fmt(row)}" for row in self.shown[kind]]
                if self.counts[kind] > SHOW:
                    lines.append(f"  ... and {self.counts[kind] - SHOW} more")
        return lines

    def summary(self) -> dict:
        return {"checked": self.checked, "archived_rows": self.archived, **self.counts}


def kafka_rows(config: dict[str, str], topic: str, ranges: dict[int, tuple[int, int]], stall_s: float) -> Iterator:
    for partition in sorted(ranges):
        start, end = ranges[partition]
        yield from reader.read_range(config, topic, {partition: start}, {partition: end}, stall_s)


def _shown(row) -> tuple:
    return (row.partition, row.offset, row.key, row.value, row.headers)


def compare(
    expected: Iterator[reader.Record],
    archived: Iterator[archive.ArchiveRow],
    topic: str,
    topic_id: str,
    what: str = "",
) -> ArchiveReport:
    """Walk both (partition, offset)-ordered streams side by side."""
    report = ArchiveReport()
    marker = object()
    exp, arc = next(expected, marker), next(archived, marker)
    last_key = None
    next_log = time.monotonic() + PROGRESS_EVERY_S
    while exp is not marker or arc is not marker:
        if time.monotonic() > next_log:
            log.info("%schecked %d message(s), %d archived row(s) so far", what, report.checked, report.archived)
            next_log = time.monotonic() + PROGRESS_EVERY_S
        exp_key = None if exp is marker else (exp.partition, exp.offset)
        arc_key = None if arc is marker else (arc.partition, arc.offset)
        if arc_key is not None and arc_key == last_key:
            report.archived += 1
            report.add("duplicated", _shown(arc))
            arc = next(archived, marker)
            continue
        if arc_key is None or (exp_key is not None and exp_key < arc_key):
            report.checked += 1
            report.add("missing", _shown(exp))
            exp = next(expected, marker)
        elif exp_key is None or arc_key < exp_key:
            report.archived += 1
            report.add("unexpected", _shown(arc))
            last_key = arc_key
            arc = next(archived, marker)
        else:
            report.checked += 1
            report.archived += 1
            same = (
                arc.key == exp.key
                and arc.value == exp.value
                and arc.headers == exp.headers
                and arc.topic == topic
                and arc.topic_id == topic_id
            )
            if not same:
                report.add("wrong", _shown(arc))
            last_key = arc_key
            exp, arc = next(expected, marker), next(archived, marker)
    return report


def run_ranges(
    before: dict[int, int] | None,
    started: dict[int, int] | None,
    after: dict[int, int] | None,
    low: dict[str, int],
    floor: dict[str, int],
) -> dict[int, tuple[int, int]]:
    """Per partition, the offsets this run archived: from where the checkpoint stood before the job (a new
    query: where Spark started it, never below the topic's earliest offset then, nor the floor an accepted data
    loss left) to where it stands after."""
    ranges = {}
    for partition, end in (after or {}).items():
        if before is not None and partition in before:
            start = before[partition]
        else:
            start = max((started or {}).get(partition, 0), int(low.get(str(partition), 0)))
        start = max(start, int(floor.get(str(partition), 0)))
        if end > start:
            ranges[partition] = (start, end)
    return ranges


def check_run(
    config: dict[str, str],
    fs,
    topic: str,
    output_dir: str,
    ranges: dict[int, tuple[int, int]],
    files: list[str],
    topic_id: str,
    stall_s: float = 120,
) -> dict:
    """read_from_kafka's check: every message of ``ranges`` is in ``files`` exactly once with its exact bytes,
    and nothing else is. Raises VerificationFailed with the diff, returns the counts and the ranges."""
    started = time.monotonic()
    report = compare(
        kafka_rows(config, topic, ranges, stall_s),
        archive.rows_in_order(fs, files),
        topic,
        topic_id,
        what=f"{topic} -> {output_dir}: ",
    )
    if not report.ok:
        raise VerificationFailed(
            f"archive {output_dir} does not hold this run's messages of {topic} exactly once "
            f"(ranges {ranges}, {len(files)} file(s)):\n" + "\n".join(report.diff())
        )
    log.info(
        "archive %s holds all %d message(s) of %s in %s exactly once (%d file(s), %.1fs)",
        output_dir,
        report.checked,
        topic,
        ranges,
        len(files),
        time.monotonic() - started,
    )
    return report.summary() | {"ranges": {str(p): list(r) for p, r in ranges.items()}, "files": len(files)}


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
    return read_json(hdfs, _incarnation_path(checkpoint))


def write_incarnation(hdfs, checkpoint: str, topic_id: str, floor: dict[int, int]) -> None:
    """Keep, next to the query's checkpoint, which incarnation of the topic it reads and the floor the
    verification starts from (read back by ``read_incarnation`` on the next run)."""
    write_json(
        hdfs, _incarnation_path(checkpoint), {"topic_id": topic_id, "floor": {str(p): o for p, o in floor.items()}}
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
    for partition, offset in (committed or {}).items():  # retention: the query resumes at the earliest offset
        if partition in marks and marks[partition][0] > offset:
            floor[partition] = max(floor.get(partition, 0), marks[partition][0])
    return offsets_gone(committed, marks), floor
