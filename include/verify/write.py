"""write_to_kafka: did exactly the expected messages arrive?

The files the query took this run (from Spark's checkpoint, read over WebHDFS) are parsed by the reference
rules (include/rows.py) into the expected valid rows and dead letters; an independent consumer reads both
topics from the offsets recorded before the job; the two multisets are compared.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from include.hdfs import spark_logs
from include.hdfs.client import read_bytes
from include.kafka import admin, offsets, reader
from include.rows import parse_players
from include.verify.diff import MultisetDiff

log = logging.getLogger(__name__)


@dataclass
class WriteReport:
    files: list[str]
    valid: MultisetDiff
    dead: MultisetDiff
    ingested: dict | None = None  # where_taken

    @property
    def duplicates(self) -> int:
        return sum(self.valid.duplicates.values()) + sum(self.dead.duplicates.values())

    @property
    def complete(self) -> bool:
        return not (self.valid.missing or self.valid.unexpected or self.dead.missing or self.dead.unexpected)

    def summary(self) -> dict:
        return {
            "files": self.files,
            "expected_valid": sum(self.valid.expected.values()),
            "arrived_valid": sum(self.valid.actual.values()),
            "expected_dead_letters": sum(self.dead.expected.values()),
            "arrived_dead_letters": sum(self.dead.actual.values()),
            "missing": sum(self.valid.missing.values()) + sum(self.dead.missing.values()),
            "unexpected": sum(self.valid.unexpected.values()) + sum(self.dead.unexpected.values()),
            "duplicates": self.duplicates,
            "ingested": self.ingested,
            "diff": self.valid.lines("valid rows (key | value)")
            + self.dead.lines("dead letters (file | line | reason)"),
        }


def dead_letter_file(uri: str) -> str:
    """The file as a dead letter names it: Spark's URI of it (its source log and ``_metadata.file_path`` both
    encode it: a space is %20, '%' is %25, '#' is %23, '[' is %5B), decoded once, as jobs/write_to_kafka.py
    decodes it (``hdfs://nn:8020/user/me/a b%/x.csv``)."""
    return unquote(uri)


def expected_for_files(hdfs, files: list[str]) -> tuple[Counter, Counter]:
    """The valid (key, value) and dead-letter (file, line, reason) multisets the reference rules give; ``files``
    as Spark's source log names them (URIs)."""
    valid: Counter = Counter()
    dead: Counter = Counter()
    for uri in files:
        players, letters = parse_players(read_bytes(hdfs, spark_logs.hdfs_path(uri)), dead_letter_file(uri))
        valid.update((p.name, p.age) for p in players)
        dead.update((d.file, d.line, d.reason) for d in letters)
    return valid, dead


def decode(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


class TopicReader:
    """Reads a topic forward from given offsets, a little more on each call (for a polling sensor)."""

    def __init__(self, config: dict[str, str], topic: str, start: dict[str, int]) -> None:
        self.config, self.topic = config, topic
        self.position = {int(p): int(o) for p, o in start.items()}

    def read_new(self, deadline_s: float):
        marks = offsets.watermarks(self.config, self.topic)
        end = {p: high for p, (_, high) in marks.items()}
        start = {p: self.position.get(p, low) for p, (low, _) in marks.items()}
        yield from reader.read_range(self.config, self.topic, start, end, deadline_s)
        self.position.update(end)


def where_taken(hdfs, checkpoint: str, path: str, files_this_run: list[str]) -> dict:
    """Whether the query took the file at ``path``: {"path", "taken", "this_run", "batch" (an earlier one)}.
    A file of this run's batches is found among ``files_this_run`` (URIs); only otherwise is the query's whole
    source log read (a re-run of a file the query took before)."""
    if path in {spark_logs.hdfs_path(uri) for uri in files_this_run}:
        return {"path": path, "taken": True, "this_run": True, "batch": None}
    batch = spark_logs.batch_that_took(hdfs, checkpoint, path)
    return {"path": path, "taken": batch is not None, "this_run": False, "batch": batch}


def verification_start(
    earlier: dict | None, batch_before: int, last_planned: int, now: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]] | None:
    """Where this run's verification must start reading both topics, when not at ``now`` (their end offsets).

    A job killed after it planned batch ``batch_before + 1`` may have written some of its messages; Spark
    writes that batch again when the query next runs (Kafka's sink is at-least-once). If no run after the
    killed one committed a batch, the offsets recorded before the killed job (``earlier``, kept beside the
    checkpoint) are where the run that finally commits the batch must count from, so that the copies of the
    failed attempts are counted as duplicates, not left out. Returns those offsets, or None: a fresh start.
    """
    if earlier is None or last_planned <= batch_before or int(earlier.get("batch_before", -2)) != batch_before:
        return None
    start = {}
    for topic, ends in now.items():
        before = {str(p): int(o) for p, o in (earlier.get("offsets", {}).get(topic) or {}).items()}
        if any(before.get(p, 0) > int(o) for p, o in ends.items()):
            return None  # the topic holds fewer messages than then: recreated since, those copies are gone
        start[topic] = {p: before.get(p, int(o)) for p, o in ends.items()}
    return start


def verify_write(
    config: dict[str, str],
    hdfs,
    topic: str,
    dlq_topic: str,
    start_offsets: dict[str, dict[str, int]],
    checkpoint: str,
    batch_before: int,
    timeout_s: float,
    poll_s: float = 2.0,
) -> WriteReport:
    """Wait (up to ``timeout_s``) until every expected message has arrived; return the comparison.

    The expected side: the files the query took in batches after ``batch_before``. The actual side: both
    topics from ``start_offsets`` (recorded before the job) to their current end.
    """
    admin.check_broker(config)
    batch_after = spark_logs.last_committed_batch(hdfs, checkpoint)
    files = spark_logs.source_files_in_batches(hdfs, checkpoint, batch_before, batch_after)
    expected_valid, expected_dead = expected_for_files(hdfs, files)
    log.info(
        "batches %d..%d took %d file(s): expecting %d valid row(s) in %s and %d dead letter(s) in %s",
        batch_before + 1,
        batch_after,
        len(files),
        sum(expected_valid.values()),
        topic,
        sum(expected_dead.values()),
        dlq_topic,
    )
    valid_reader = TopicReader(config, topic, start_offsets[topic])
    dead_reader = TopicReader(config, dlq_topic, start_offsets[dlq_topic])
    actual_valid: Counter = Counter()
    actual_dead: Counter = Counter()
    deadline = time.monotonic() + timeout_s
    while True:
        left = max(5.0, deadline - time.monotonic())
        actual_valid.update((decode(r.key), decode(r.value)) for r in valid_reader.read_new(left))
        for record in dead_reader.read_new(left):
            letter = json.loads(record.value or b"{}")
            actual_dead[(letter.get("file"), letter.get("line"), letter.get("reason"))] += 1
        report = WriteReport(
            files, MultisetDiff(expected_valid, actual_valid), MultisetDiff(expected_dead, actual_dead)
        )
        if report.complete or time.monotonic() > deadline:
            return report
        if report.valid.unexpected or report.dead.unexpected:
            return report  # more waiting can't take an unexpected message back
        time.sleep(poll_s)
