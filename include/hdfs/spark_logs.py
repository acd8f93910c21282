"""Read Spark Structured Streaming's own logs on HDFS, through WebHDFS, without Spark.

- ``<checkpoint>/commits/<N>``: batch N is complete.
- ``<checkpoint>/sources/0/<N>``: the files a file-source query took in batch N (compacted every 10 batches
  into ``<N>.compact``, which repeats every entry up to N with its batchId).
- ``<sink>/_spark_metadata/<N>``: the files a file sink committed (same layout, no batchId).

Verification uses these to know which input files a run consumed and which output files are committed,
from Spark's records rather than from the job's own report.
"""

from __future__ import annotations

import json
import posixpath
import re
from urllib.parse import unquote, urlparse

from include.hdfs.client import list_names, read_bytes

_BATCH = re.compile(r"^(\d+)(\.compact)?$")


def hdfs_path(uri: str) -> str:
    """``hdfs://host:8020/a/b%20c.csv`` -> ``/a/b c.csv``."""
    return unquote(urlparse(uri).path) if "://" in uri else uri


def _batches(hdfs, log_dir: str) -> list[tuple[int, bool]]:
    out = []
    for name in list_names(hdfs, log_dir):
        match = _BATCH.match(name)
        if match:
            out.append((int(match.group(1)), bool(match.group(2))))
    return sorted(out)


def _last_batch(hdfs, checkpoint: str, log: str) -> int:
    batches = _batches(hdfs, posixpath.join(hdfs_path(checkpoint), log))
    return max((b for b, _ in batches), default=-1)


def last_committed_batch(hdfs, checkpoint: str) -> int:
    """The id of the last committed micro-batch of the query at ``checkpoint``; -1 when none."""
    return _last_batch(hdfs, checkpoint, "commits")


def last_planned_batch(hdfs, checkpoint: str) -> int:
    """The id of the last micro-batch the query at ``checkpoint`` planned (its offsets entry); -1 when none."""
    return _last_batch(hdfs, checkpoint, "offsets")


def _read_log_file(hdfs, path: str) -> list[dict]:
    lines = read_bytes(hdfs, path).decode("utf-8").splitlines()
    if not lines or not lines[0].startswith("v"):
        raise ValueError(f"{path} is not a Spark metadata log file (no version line)")
    return [json.loads(line) for line in lines[1:] if line.strip()]


def read_log(hdfs, log_dir: str) -> list[tuple[int, dict]]:
    """Every live entry of a compacted metadata log, as (batch id of the file it was read from, entry)."""
    batches = _batches(hdfs, log_dir)
    compacts = [b for b, compact in batches if compact]
    start = max(compacts, default=-1)
    entries: list[tuple[int, dict]] = []
    for batch, compact in batches:
        if batch < start or (batch == start and not compact):
            continue
        name = f"{batch}.compact" if compact else str(batch)
        for entry in _read_log_file(hdfs, posixpath.join(log_dir, name)):
            entries.append((int(entry.get("batchId", batch)), entry))
    return entries


def source_files_in_batches(hdfs, checkpoint: str, after: int, up_to: int) -> list[str]:
    """Files (as Spark names them, hdfs://...) that the file source took in batches after < N <= up_to."""
    log_dir = posixpath.join(hdfs_path(checkpoint), "sources", "0")
    return sorted({e["path"] for batch, e in read_log(hdfs, log_dir) if after < batch <= up_to})


def batch_that_took(hdfs, checkpoint: str, path: str) -> int | None:
    """The batch in which the file-source query at ``checkpoint`` took the file at ``path``; None if none did."""
    log_dir = posixpath.join(hdfs_path(checkpoint), "sources", "0")
    return next((batch for batch, e in read_log(hdfs, log_dir) if hdfs_path(e["path"]) == path), None)


def sink_files(hdfs, output_dir: str) -> list[str]:
    """The data files a file sink has committed (added and not deleted), as HDFS paths."""
    log_dir = posixpath.join(hdfs_path(output_dir), "_spark_metadata")
    live: dict[str, dict] = {}
    for _, entry in read_log(hdfs, log_dir):
        if entry.get("action", "add") == "delete":
            live.pop(entry["path"], None)
        else:
            live[entry["path"]] = entry
    return sorted(hdfs_path(p) for p in live)


def kafka_initial_offsets(hdfs, checkpoint: str, topic: str) -> dict[int, int] | None:
    """Where a Kafka-source query started ({partition: offset}), from ``sources/0/0``; None for a new query.

    Spark resolves ``startingOffsets`` (earliest/latest) once, on the query's first run, and records the
    result there; later runs continue from the checkpoint. Offsets -2/-1 (earliest/latest markers) are kept.
    """
    path = posixpath.join(hdfs_path(checkpoint), "sources", "0", "0")
    if hdfs.status(path, strict=False) is None:
        return None
    text = read_bytes(hdfs, path).decode("utf-8", errors="replace")
    start = text.find("{")
    offsets = json.loads(text[start:]) if start >= 0 else {}
    return {int(p): int(o) for p, o in offsets.get(topic, {}).items()}


def kafka_committed_offsets(hdfs, checkpoint: str, topic: str) -> dict[int, int] | None:
    """{partition: next offset to read} after the last committed batch of a Kafka-source query; None if none."""
    batch = last_committed_batch(hdfs, checkpoint)
    if batch < 0:
        return None
    path = posixpath.join(hdfs_path(checkpoint), "offsets", str(batch))
    for line in read_bytes(hdfs, path).decode("utf-8", errors="replace").splitlines()[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and topic in entry:
            return {int(p): int(o) for p, o in entry[topic].items()}
    return None
