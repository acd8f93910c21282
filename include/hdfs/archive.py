"""The read job's archive on HDFS, read through WebHDFS without Spark: its binding, its commit log, its files
(the layout is jobs/archive.py's), and the rows of its Parquet files in (partition, offset) order, streamed.
"""

from __future__ import annotations

import heapq
import json
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from include.hdfs.client import list_names, read_bytes
from jobs import archive as layout

READ_COLUMNS = ["partition", "offset", "key", "value", "headers", "topic", "topic_id"]
BATCH_ROWS = 8192


def read_binding(hdfs, directory: str) -> dict | None:
    path = posixpath.join(directory, layout.BINDING_FILE)
    if hdfs.status(path, strict=False) is None:
        return None
    return json.loads(read_bytes(hdfs, path))


def binding_problem(hdfs, topic: str, output_dir: str, checkpoint: str, query_checkpoint: str) -> str | None:
    """jobs/archive.py's rule, checked before Spark starts (the job checks it again)."""
    in_archive, in_checkpoint = read_binding(hdfs, output_dir), read_binding(hdfs, checkpoint)
    return layout.binding_problem(
        in_archive,
        in_checkpoint,
        topic,
        checkpoint,
        output_dir,
        archive_has_other_files=in_archive is None and bool(list_names(hdfs, output_dir)),
        checkpoint_has_batches=bool(list_names(hdfs, posixpath.join(query_checkpoint, "commits"))),
        archive_has_batches=bool(list_names(hdfs, posixpath.join(output_dir, layout.LOG_DIR))),
    )


def committed_files(hdfs, output_dir: str, after: int, up_to: int) -> list[str]:
    """The archive files committed by batches after < N <= up_to (from their commit entries), as HDFS paths."""
    files = []
    for batch in range(after + 1, up_to + 1):
        path = posixpath.join(output_dir, layout.LOG_DIR, layout.entry_name(batch))
        if hdfs.status(path, strict=False) is None:
            raise FileNotFoundError(
                f"the commit entry of batch {batch} is missing from {posixpath.dirname(path)} (the log keeps the "
                f"last {layout.LOG_RETAINED} batches): these batches can only be checked by a full audit"
            )
        entry = json.loads(read_bytes(hdfs, path))
        files += [posixpath.join(output_dir, item["path"]) for item in entry["files"]]
    return files


def all_files(hdfs, output_dir: str) -> list[str]:
    """Every data file of the archive (every date)."""
    files = []
    for date_dir in sorted(list_names(hdfs, output_dir)):
        if date_dir.startswith(f"{layout.DATE_COLUMN}="):
            folder = posixpath.join(output_dir, date_dir)
            files += [posixpath.join(folder, n) for n in sorted(list_names(hdfs, folder)) if n.endswith(".parquet")]
    return files


@dataclass(frozen=True)
class ArchiveRow:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    topic: str
    topic_id: str


def _headers(raw) -> tuple:
    return tuple((h["key"], h["value"]) for h in raw) if raw else ()


def _file_rows(fs, path: str) -> Iterator[ArchiveRow]:
    import pyarrow.parquet as pq

    last = None
    with fs.open(path, "rb") as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS, columns=READ_COLUMNS):
            cols = [batch.column(name).to_pylist() for name in READ_COLUMNS]
            for p, o, k, v, h, t, tid in zip(*cols, strict=True):
                if last is not None and (p, o) < last:
                    raise ValueError(f"{path} is not sorted by (partition, offset): {(p, o)} after {last}")
                last = (p, o)
                yield ArchiveRow(p, o, k, v, _headers(h), t, tid)


def _bounds(fs, path: str) -> tuple[tuple, tuple] | None:
    """(first, last) (partition, offset) a file may hold, from its Parquet statistics (no data read); None
    when it holds no row."""
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        meta = pq.ParquetFile(handle).metadata
    leaves = [meta.schema.column(i).path for i in range(meta.num_columns)]  # headers is several leaf columns
    pi, oi = leaves.index("partition"), leaves.index("offset")
    plo = olo = float("inf")
    phi = ohi = float("-inf")
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if group.num_rows == 0:
            continue
        ps, os_ = group.column(pi).statistics, group.column(oi).statistics
        if ps is None or os_ is None or not (ps.has_min_max and os_.has_min_max):
            return (float("-inf"), 0), (float("inf"), 0)
        plo, phi = min(plo, ps.min), max(phi, ps.max)
        olo, ohi = min(olo, os_.min), max(ohi, os_.max)
    if plo == float("inf"):
        return None
    return (plo, olo if plo == phi else float("-inf")), (phi, ohi if plo == phi else float("inf"))


def rows_in_order(fs, paths: Iterable[str]) -> Iterator[ArchiveRow]:
    """Every row of the files, in (partition, offset) order, holding one row group of each file open at a time
    among files whose ranges overlap (written by the job, files of one batch and one date hold one Kafka
    partition's offsets in order, so files rarely overlap)."""
    bounds = [(_bounds(fs, p), p) for p in paths]
    bounded = sorted(((*b, p) for b, p in bounds if b is not None), key=lambda b: b[0])
    group: list[str] = []
    group_hi: tuple | None = None
    for lo, hi, path in bounded:
        if group and lo > group_hi:
            yield from heapq.merge(*(_file_rows(fs, p) for p in group), key=lambda r: (r.partition, r.offset))
            group, group_hi = [], None
        group.append(path)
        group_hi = hi if group_hi is None else max(group_hi, hi)
    if group:
        yield from heapq.merge(*(_file_rows(fs, p) for p in group), key=lambda r: (r.partition, r.offset))
