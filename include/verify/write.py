"""Did exactly the expected messages arrive? Checks for both DAGs, with readable diffs.

write_to_kafka: the files the query took this run (from Spark's checkpoint, read over WebHDFS) are parsed
by the reference rules (include/players.py) into the expected valid rows and dead letters; an independent
consumer reads both topics from the offsets recorded before the job; the two multisets are compared.

read_from_kafka: the messages of the topic in the verified offset range are read with a consumer and looked
up in the committed Parquet files of the sink (from the sink's ``_spark_metadata``), by (partition, offset).
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from include import kafka_topics, spark_metadata
from include.hdfs_files import read_bytes
from include.players import parse_players

log = logging.getLogger(__name__)

SHOW = 20  # diff lines shown per kind


class VerificationFailed(AssertionError):
    """What arrived is not what was expected; the message is the diff."""


def _fmt(item: tuple) -> str:
    return " | ".join("<null>" if v is None else repr(v) for v in item)


@dataclass
class MultisetDiff:
    """expected vs actual multisets: missing, unexpected, duplicated (an expected item that came too often)."""

    expected: Counter
    actual: Counter
    missing: Counter = field(init=False)
    unexpected: Counter = field(init=False)
    duplicates: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.missing = self.expected - self.actual
        extra = self.actual - self.expected
        self.unexpected = Counter({k: n for k, n in extra.items() if k not in self.expected})
        self.duplicates = Counter({k: n for k, n in extra.items() if k in self.expected})

    def lines(self, what: str) -> list[str]:
        out = []
        for label, counter in (("missing", self.missing), ("unexpected", self.unexpected)):
            total = sum(counter.values())
            if total:
                out.append(f"{what}: {total} {label}:")
                for item, n in sorted(counter.items(), key=lambda kv: repr(kv[0]))[:SHOW]:
                    out.append(f"  {'-' if label == 'missing' else '+'} {_fmt(item)}" + (f"  (x{n})" if n > 1 else ""))
                if len(counter) > SHOW:
                    out.append(f"  ... and {len(counter) - SHOW} more")
        return out


@dataclass
class WriteReport:
    files: list[str]
    valid: MultisetDiff
    dead: MultisetDiff

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
            "diff": self.valid.lines("valid rows (key | value)")
            + self.dead.lines("dead letters (file | line | reason)"),
        }


def expected_for_files(hdfs, files: list[str]) -> tuple[Counter, Counter]:
    """The valid (key, value) and dead-letter (file, line, reason) multisets the reference rules give."""
    valid: Counter = Counter()
    dead: Counter = Counter()
    for uri in files:
        players, letters = parse_players(read_bytes(hdfs, spark_metadata.hdfs_path(uri)), uri)
        valid.update((p.name, p.age) for p in players)
        dead.update((d.file, d.line, d.reason) for d in letters)
    return valid, dead


def _decode(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


class TopicReader:
    """Reads a topic forward from given offsets, a little more on each call (for a polling sensor)."""

    def __init__(self, config: dict[str, str], topic: str, start: dict[str, int]) -> None:
        self.config, self.topic = config, topic
        self.position = {int(p): int(o) for p, o in start.items()}

    def read_new(self, deadline_s: float):
        marks = kafka_topics.watermarks(self.config, self.topic)
        end = {p: high for p, (_, high) in marks.items()}
        start = {p: self.position.get(p, low) for p, (low, _) in marks.items()}
        yield from kafka_topics.read_range(self.config, self.topic, start, end, deadline_s)
        self.position.update(end)


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
    kafka_topics.check_broker(config)
    batch_after = spark_metadata.last_committed_batch(hdfs, checkpoint)
    files = spark_metadata.source_files_in_batches(hdfs, checkpoint, batch_before, batch_after)
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
        actual_valid.update((_decode(r.key), _decode(r.value)) for r in valid_reader.read_new(left))
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


# ------------------------------------------------------------------------------------------- read side


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
                diff += [f"  {_fmt(i)}" for i in items[:SHOW]]
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
    for path in spark_metadata.sink_files(hdfs, output_dir):
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
    kafka_topics.check_broker(config)
    start = {int(p): int(r[0]) for p, r in ranges.items()}
    end = {int(p): int(r[1]) for p, r in ranges.items()}
    expected = {
        (r.partition, r.offset): (_decode(r.key), _decode(r.value))
        for r in kafka_topics.read_range(config, topic, start, end, timeout_s)
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
    return f"{spark_metadata.hdfs_path(checkpoint).rstrip('/')}/{INCARNATION_FILE}"


def read_incarnation(hdfs, checkpoint: str) -> dict | None:
    """{"topic_id", "floor": {partition: first offset the archive owes}} of the topic the query last read."""
    path = _incarnation_path(checkpoint)
    if hdfs.status(path, strict=False) is None:
        return None
    return json.loads(read_bytes(hdfs, path))


def record_read_offsets(config: dict[str, str], hdfs, plan: dict) -> dict:
    """read_from_kafka's record_offsets: the topic's id and offsets before the job, and what the query lost.

    Losses: offsets deleted by retention before the query read them, and a topic deleted and recreated (its
    id changed: the query resumes in the new topic where Spark can, and what it skips there is lost). With
    ``fail_on_data_loss`` either fails here, before Spark starts; otherwise it is logged with its count and
    the verification starts after it (the floor, kept next to the checkpoint).
    """
    topic = plan["topic"]
    marks = kafka_topics.watermarks(config, topic)
    current_id = kafka_topics.topic_id(config, topic)
    committed = spark_metadata.kafka_committed_offsets(hdfs, plan["checkpoint"] + "/archive", topic)
    known = read_incarnation(hdfs, plan["checkpoint"])
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
        floor = resume
    else:
        gone = offsets_gone(committed, marks)
    if gone:
        text = f"messages of {topic} that the query had not read are gone: " + "; ".join(gone)
        if plan["fail_on_data_loss"]:
            raise VerificationFailed(text + ". Failing because fail_on_data_loss is set.")
        log.warning("%s. Going on (fail_on_data_loss is false): the query continues from what exists.", text)
    hdfs.write(
        _incarnation_path(plan["checkpoint"]),
        data=json.dumps({"topic_id": current_id, "floor": {str(p): o for p, o in floor.items()}}).encode(),
        overwrite=True,
    )
    return {
        "topic_id": current_id,
        # the job's arguments: the plan's, and the topic id it tags every archived row with
        "job_args": [*plan["job_args"], "--topic-id", current_id],
        "low": {str(p): low for p, (low, _) in marks.items()},
        "end": {str(p): high for p, (_, high) in marks.items()},
        "floor": {str(p): o for p, o in floor.items()},
        "data_loss": gone,
    }


def sink_ranges(recorded: dict, started: dict[int, int]) -> dict[str, list[int]]:
    """Per partition, the offsets the archive must hold: from where the query started (or, if later, the
    earliest offset still in the topic, or the floor left by an accepted data loss) up to the end recorded
    just before the job."""
    floor = recorded.get("floor", {})
    return {
        p: [max(int(recorded["low"][p]), started.get(int(p), 0), int(floor.get(p, 0))), int(end)]
        for p, end in recorded["end"].items()
    }


def verify_read(config: dict[str, str], hdfs, plan: dict, recorded: dict, timeout_s: float = 120) -> dict:
    """read_from_kafka's check; raises VerificationFailed with the diff, returns the counts."""
    started = spark_metadata.kafka_initial_offsets(hdfs, plan["checkpoint"] + "/archive", plan["topic"]) or {}
    ranges = sink_ranges(recorded, started)
    report = verify_sink(config, hdfs, plan["topic"], plan["output_dir"], ranges, timeout_s, recorded["topic_id"])
    summary = report.summary()
    if not report.ok:
        raise VerificationFailed(
            f"archive {plan['output_dir']} does not hold every message of {plan['topic']} exactly once:\n"
            + "\n".join(summary["diff"])
        )
    log.info(
        "archive %s holds all %d message(s) of %s in %s exactly once",
        plan["output_dir"],
        report.checked,
        plan["topic"],
        ranges,
    )
    return {k: v for k, v in summary.items() if k != "diff"} | {"ranges": ranges}
