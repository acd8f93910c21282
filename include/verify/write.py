"""write_to_kafka: did exactly the expected messages arrive? Streamed, in bounded memory, for files of any size.

The expected side: the files the query took in this run's batches (from Spark's checkpoint, read over
WebHDFS line by line), parsed by the reference rules (include/rows.py) into valid rows and dead letters. The
actual side: both topics, read by an independent consumer from the offsets recorded before the job. Both are
compared as multisets, exactly, in two steps:

1. **Partitioned digests** (one pass over each side): every row's bytes are hashed (BLAKE2b, 128 bits); its
   bucket is the hash modulo ``BUCKETS``, and a bucket keeps a count and the sum of its rows' hashes modulo
   2**128. Memory: two numbers per bucket, whatever the row count. Two buckets with the same count and sum hold
   the same multiset (different rows collide with probability ~2**-128).
2. **Naming** (only for buckets that differ): both sides are read again, keeping the rows of those buckets in
   counters, at most ``NAMING_ROWS`` at a time (a bucket too big for that is split by more bits of the hash, and
   the work done in as many passes as it takes). The result names every missing, unexpected and duplicated row.

The wait (offsets reached, a deadline) is separate and cheap: ``arrived`` counts what a ``read_committed``
reader can see in each topic since the recorded offsets; the sensor's trigger polls it until it reaches the
expected counts. Progress goes to the log every ``PROGRESS_EVERY_S``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from hashlib import blake2b
from urllib.parse import unquote

from include.hdfs import spark_logs
from include.hdfs.client import read_lines
from include.kafka import admin, offsets, reader
from include.rows import Player, scan_players
from include.verify.diff import SHOW, MultisetDiff, report_lines

log = logging.getLogger(__name__)

BUCKETS = 1024
NAMING_ROWS = 500_000  # rows the naming step holds at most at once (both sides)
PROGRESS_EVERY_S = 10.0
VALID, DEAD = 0, 1
KIND_NAMES = ("valid rows (key | value)", "dead letters (file | line | reason)")
_MASK = (1 << 128) - 1
_NULL = b"\xff\xff\xff\xff"


def _field(data: bytes | None) -> bytes:
    return _NULL if data is None else len(data).to_bytes(4, "big") + data


def row_item(key: bytes | None, value: bytes | None) -> bytes:
    """A message's key and value as one byte string (length-prefixed; null kept apart from empty)."""
    return _field(key) + _field(value)


def letter_item(file: object, line: object, reason: object) -> bytes:
    """What identifies a dead letter: its file, line and reason (its raw text is not compared)."""
    return json.dumps([file, line, reason], ensure_ascii=False).encode()


def shown(kind: int, item: bytes) -> tuple:
    """An item as the diff shows it: key and value decoded (bytes that are not UTF-8 shown escaped)."""
    if kind == DEAD:
        return tuple(json.loads(item))
    out, pos = [], 0
    for _ in range(2):
        if item[pos : pos + 4] == _NULL:
            out.append(None)
            pos += 4
            continue
        size = int.from_bytes(item[pos : pos + 4], "big")
        raw = item[pos + 4 : pos + 4 + size]
        out.append(raw.decode("utf-8", errors="backslashreplace"))
        pos += 4 + size
    return tuple(out)


def hash_of(item: bytes) -> int:
    return int.from_bytes(blake2b(item, digest_size=16).digest(), "little")


@dataclass
class Digest:
    """A multiset as per-bucket counts and sums of its items' hashes."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    sums: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, h: int) -> None:
        b = h % len(self.counts)
        self.counts[b] += 1
        self.sums[b] = (self.sums[b] + h) & _MASK

    @property
    def total(self) -> int:
        return sum(self.counts)

    def differing(self, other: Digest) -> list[int]:
        return [
            b for b in range(len(self.counts)) if self.counts[b] != other.counts[b] or self.sums[b] != other.sums[b]
        ]

    def to_dict(self) -> dict:
        return {"counts": self.counts, "sums": [format(s, "x") for s in self.sums]}

    @classmethod
    def from_dict(cls, data: dict) -> Digest:
        return cls(list(data["counts"]), [int(s, 16) for s in data["sums"]])


Rows = Iterator[tuple[int, bytes]]  # (VALID or DEAD, item)


def _with_progress(rows: Rows, what: str, of: int | None = None) -> Rows:
    count, next_log = 0, time.monotonic() + PROGRESS_EVERY_S
    for row in rows:
        count += 1
        if count % 65536 == 0 and time.monotonic() > next_log:
            log.info("%s: %d%s so far", what, count, f" of {of}" if of else "")
            next_log = time.monotonic() + PROGRESS_EVERY_S
        yield row


def digest(rows: Rows, what: str = "rows", of: int | None = None) -> tuple[Digest, Digest]:
    """One pass: the (valid, dead letter) digests of ``rows``."""
    sides = (Digest(), Digest())
    for kind, item in _with_progress(rows, what, of):
        sides[kind].add(hash_of(item))
    return sides


def dead_letter_file(uri: str) -> str:
    """The file as a dead letter names it: Spark's URI of it (its source log and ``_metadata.file_path`` both
    encode it: a space is %20, '%' is %25, '#' is %23, '[' is %5B), decoded once, as jobs/write_to_kafka.py
    decodes it (``hdfs://nn:8020/user/me/a b%/x.csv``)."""
    return unquote(uri)


def expected_rows(hdfs, files: list[str]) -> Rows:
    """The valid rows and dead letters the reference rules give for ``files`` (URIs, as Spark's source log names
    them), streamed line by line."""
    for uri in files:
        file = dead_letter_file(uri)
        with read_lines(hdfs, spark_logs.hdfs_path(uri)) as lines:
            for entry in scan_players(lines, file):
                if isinstance(entry, Player):
                    yield VALID, row_item(entry.name.encode(), entry.age.encode())
                else:
                    yield DEAD, letter_item(entry.file, entry.line, entry.reason)


def _letter(value: bytes | None) -> bytes:
    try:
        letter = json.loads(value or b"{}")
        return letter_item(letter.get("file"), letter.get("line"), letter.get("reason"))
    except (ValueError, AttributeError):
        return letter_item(None, None, f"not a dead letter: {(value or b'')[:80]!r}")


def arrived_rows(config: dict[str, str], ranges: dict[str, dict[int, tuple[int, int]]], dlq_topic: str) -> Rows:
    """The messages of both topics in ``ranges`` ({topic: {partition: (start, end)}}), as items."""
    for topic, parts in ranges.items():
        start = {p: s for p, (s, _) in parts.items()}
        end = {p: e for p, (_, e) in parts.items()}
        for record in reader.read_range(config, topic, start, end, deadline_s=120):
            if topic == dlq_topic:
                yield DEAD, _letter(record.value)
            else:
                yield VALID, row_item(record.key, record.value)


def read_ranges(config: dict[str, str], start: dict[str, dict[str, int]]) -> dict[str, dict[int, tuple[int, int]]]:
    """{topic: {partition: (recorded offset, end now)}} for each topic of ``start``."""
    ranges = {}
    for topic, recorded in start.items():
        marks = offsets.watermarks(config, topic)
        ranges[topic] = {p: (int(recorded.get(str(p), low)), high) for p, (low, high) in marks.items()}
    return ranges


def arrived(config: dict[str, str], start: dict[str, dict[str, int]]) -> dict[str, int]:
    """{topic: messages a read_committed reader can see since the recorded offsets} (the wait's measure; may
    count a transaction's markers as messages, which only ends a wait early: the comparison decides)."""
    out = {}
    for topic, recorded in start.items():
        partitions = [int(p) for p in offsets.watermarks(config, topic)]
        _, stable = offsets.end_offsets_by_isolation(config, topic, partitions)
        out[topic] = sum(max(0, end - int(recorded.get(str(p), 0))) for p, end in stable.items())
    return out


@dataclass
class KindResult:
    """One kind's comparison: totals from the digests; what differs named by the naming step."""

    expected: int = 0
    actual: int = 0
    missing: int = 0
    unexpected: int = 0
    duplicates: int = 0
    shown: dict[str, list[tuple[tuple, int]]] = field(default_factory=lambda: {"missing": [], "unexpected": []})
    more: dict[str, int] = field(default_factory=lambda: {"missing": 0, "unexpected": 0})

    def add(self, kind: int, diff: MultisetDiff) -> None:
        self.missing += sum(diff.missing.values())
        self.unexpected += sum(diff.unexpected.values())
        self.duplicates += sum(diff.duplicates.values())
        for label, counter in (("missing", diff.missing), ("unexpected", diff.unexpected)):
            for item, n in sorted(counter.items()):
                if len(self.shown[label]) < SHOW:
                    self.shown[label].append((shown(kind, item), n))
                else:
                    self.more[label] += 1

    def lines(self, what: str) -> list[str]:
        labels = ("missing", "unexpected")
        return report_lines(what, [(x, getattr(self, x), self.shown[x], self.more[x]) for x in labels])


@dataclass
class WriteReport:
    files: list[str]
    kinds: tuple[KindResult, KindResult]
    ingested: dict | None = None  # where_taken
    naming_passes: int = 0
    ranges: dict | None = None  # what was read: {topic: {partition: (from, to)}}

    @property
    def duplicates(self) -> int:
        return sum(k.duplicates for k in self.kinds)

    @property
    def complete(self) -> bool:
        return not any(k.missing or k.unexpected for k in self.kinds)

    def summary(self) -> dict:
        valid, dead = self.kinds
        return {
            "files": self.files,
            "expected_valid": valid.expected,
            "arrived_valid": valid.actual,
            "expected_dead_letters": dead.expected,
            "arrived_dead_letters": dead.actual,
            "missing": valid.missing + dead.missing,
            "unexpected": valid.unexpected + dead.unexpected,
            "duplicates": self.duplicates,
            "naming_passes": self.naming_passes,
            "ingested": self.ingested,
            "ranges": {t: {str(p): list(r) for p, r in parts.items()} for t, parts in (self.ranges or {}).items()},
            "diff": valid.lines(KIND_NAMES[VALID]) + dead.lines(KIND_NAMES[DEAD]),
        }


def naming_passes(expected: tuple[Digest, Digest], actual: tuple[Digest, Digest], cap: int) -> list[dict]:
    """The differing buckets, cut into passes of at most ``cap`` rows: each pass is {(kind, bucket): (parts,
    {part, ...})}, a row of a bucket cut in ``parts`` belonging to part (hash // BUCKETS) % parts."""
    slices = []
    for kind in (VALID, DEAD):
        for bucket in expected[kind].differing(actual[kind]):
            rows = expected[kind].counts[bucket] + actual[kind].counts[bucket]
            parts = max(1, math.ceil(rows / cap))
            slices += [(kind, bucket, parts, part, rows / parts) for part in range(parts)]
    passes: list[dict] = []
    size = cap
    for kind, bucket, parts, part, rows in slices:
        if size + rows > cap:
            passes.append({})
            size = 0
        passes[-1].setdefault((kind, bucket), (parts, set()))[1].add(part)
        size += rows
    return passes


def _select(rows: Rows, chosen: dict) -> Iterator[tuple[int, bytes]]:
    for kind, item in rows:
        h = hash_of(item)
        slot = chosen.get((kind, h % BUCKETS))
        if slot is not None and (h // BUCKETS) % slot[0] in slot[1]:
            yield kind, item


def compare(
    expected: tuple[Digest, Digest],
    actual: tuple[Digest, Digest],
    expected_again: Callable[[], Rows],
    actual_again: Callable[[], Rows],
    files: list[str],
    cap: int = NAMING_ROWS,
) -> WriteReport:
    """The two sides' digests compared; the rows of buckets that differ named by reading both sides again."""
    kinds = (
        KindResult(expected[VALID].total, actual[VALID].total),
        KindResult(expected[DEAD].total, actual[DEAD].total),
    )
    passes = naming_passes(expected, actual, cap)
    for number, chosen in enumerate(passes, start=1):
        log.info("naming the rows of %d differing bucket slice(s): pass %d of %d", len(chosen), number, len(passes))
        counters = {side: (Counter(), Counter()) for side in ("expected", "actual")}
        for side, rows in (("expected", expected_again()), ("actual", actual_again())):
            for kind, item in _select(rows, chosen):
                counters[side][kind][item] += 1
        for kind in (VALID, DEAD):
            kinds[kind].add(kind, MultisetDiff(counters["expected"][kind], counters["actual"][kind]))
    return WriteReport(files, kinds, naming_passes=len(passes))


@dataclass
class Expectation:
    """The expected side, computed on a worker before the wait: which batches and files, and their digests."""

    batch_after: int
    files: list[str]
    digests: tuple[Digest, Digest]

    @property
    def counts(self) -> tuple[int, int]:
        return self.digests[VALID].total, self.digests[DEAD].total

    def to_dict(self) -> dict:
        return {"batch_after": self.batch_after, "files": self.files, "digests": [d.to_dict() for d in self.digests]}

    @classmethod
    def from_dict(cls, data: dict) -> Expectation:
        valid, dead = (Digest.from_dict(d) for d in data["digests"])
        return cls(int(data["batch_after"]), list(data["files"]), (valid, dead))


def expect(hdfs, checkpoint: str, batch_before: int) -> Expectation:
    """The files the query took in batches after ``batch_before``, and the digests of what they must give."""
    batch_after = spark_logs.last_committed_batch(hdfs, checkpoint)
    files = spark_logs.source_files_in_batches(hdfs, checkpoint, batch_before, batch_after)
    started = time.monotonic()
    digests = digest(expected_rows(hdfs, files), "expected rows read from the files")
    expectation = Expectation(batch_after, files, digests)
    log.info(
        "batches %d..%d took %d file(s): expecting %d valid row(s) and %d dead letter(s) (%.1fs)",
        batch_before + 1,
        batch_after,
        len(files),
        *expectation.counts,
        time.monotonic() - started,
    )
    return expectation


def wait_for(
    config: dict[str, str],
    start: dict[str, dict[str, int]],
    needed: dict[str, int],
    timeout_s: float,
    poll_s: float = 2.0,
) -> dict[str, int]:
    """Block until ``arrived`` reaches ``needed`` in every topic, or ``timeout_s`` passed; what arrived."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = arrived(config, start)
        if all(now[t] >= n for t, n in needed.items()) or time.monotonic() > deadline:
            return now
        time.sleep(poll_s)


def verify_write(
    config: dict[str, str],
    hdfs,
    expectation: Expectation,
    topic: str,
    dlq_topic: str,
    start_offsets: dict[str, dict[str, int]],
    cap: int = NAMING_ROWS,
) -> WriteReport:
    """The comparison of what arrived (both topics from ``start_offsets`` to their end now) with ``expectation``."""
    admin.check_broker(config)
    ranges = read_ranges(config, {topic: start_offsets[topic], dlq_topic: start_offsets[dlq_topic]})
    total = sum(end - begin for parts in ranges.values() for begin, end in parts.values())
    started = time.monotonic()
    actual = digest(arrived_rows(config, ranges, dlq_topic), f"messages read from {topic} and {dlq_topic}", total)
    log.info(
        "read %d message(s) from %s and %s (%.1fs)",
        actual[VALID].total + actual[DEAD].total,
        topic,
        dlq_topic,
        time.monotonic() - started,
    )
    report = compare(
        expectation.digests,
        actual,
        lambda: expected_rows(hdfs, expectation.files),
        lambda: arrived_rows(config, ranges, dlq_topic),
        expectation.files,
        cap,
    )
    return replace(report, ranges=ranges)


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
