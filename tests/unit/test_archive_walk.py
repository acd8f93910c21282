"""The read verification's side-by-side walk (include/verify/read.py compare) and the archive's ordered rows
(include/hdfs/archive.py rows_in_order), on Parquet files written here with pyarrow."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from include.hdfs.archive import ArchiveRow, rows_in_order
from include.kafka.reader import Record
from include.verify.read import compare

HEADERS = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))


def write(path, rows):
    table = pa.table(
        {
            "key": pa.array([r[2] for r in rows], pa.binary()),
            "value": pa.array([r[3] for r in rows], pa.binary()),
            "headers": pa.array([r[4] for r in rows], HEADERS),
            "topic": ["t"] * len(rows),
            "partition": pa.array([r[0] for r in rows], pa.int32()),
            "offset": pa.array([r[1] for r in rows], pa.int64()),
            "topic_id": ["id"] * len(rows),
        }
    )
    pq.write_table(table, path, row_group_size=2)
    return str(path)


def record(p, o, key=b"k", value=b"v", headers=()):
    return Record(p, o, key, value, 0, headers)


def arow(p, o, key=b"k", value=b"v", headers=()):
    return ArchiveRow(p, o, key, value, headers, "t", "id")


def test_files_are_read_in_partition_and_offset_order_overlapping_or_not(tmp_path):
    a = write(tmp_path / "a.parquet", [(0, 0, b"a", b"", None), (0, 2, b"c", b"", None), (0, 4, b"e", b"", None)])
    b = write(tmp_path / "b.parquet", [(0, 1, b"b", b"", [{"key": "h", "value": b"\xff"}]), (0, 3, b"d", b"", None)])
    c = write(tmp_path / "c.parquet", [(1, 0, None, b"z", None)])
    empty = write(tmp_path / "e.parquet", [])
    rows = list(rows_in_order(LocalFileSystem(), [c, empty, b, a]))
    assert [(r.partition, r.offset) for r in rows] == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]
    assert rows[1].headers == (("h", b"\xff"),) and rows[5].key is None


def test_equal_streams_pass():
    report = compare(iter([record(0, 0), record(0, 2)]), iter([arow(0, 0), arow(0, 2)]), "t", "id")
    assert report.ok and report.checked == 2 and report.archived == 2


def test_bytes_that_decode_to_the_same_string_still_differ():
    report = compare(iter([record(0, 0, value=b"\xff")]), iter([arow(0, 0, value=b"\xfe")]), "t", "id")
    assert report.counts["wrong"] == 1


def test_headers_are_compared_in_order():
    expected = [record(0, 0, headers=(("a", b"1"), ("b", b"2")))]
    report = compare(iter(expected), iter([arow(0, 0, headers=(("b", b"2"), ("a", b"1")))]), "t", "id")
    assert report.counts["wrong"] == 1


def test_missing_duplicated_and_unexpected_rows_are_told_apart():
    expected = iter([record(0, 0), record(0, 1), record(0, 2)])
    archived = iter([arow(0, 0), arow(0, 0), arow(0, 2), arow(0, 9)])
    report = compare(expected, archived, "t", "id")
    assert report.counts == {"missing": 1, "wrong": 0, "duplicated": 1, "unexpected": 1}
    text = "\n".join(report.diff())
    assert "1 message(s) missing" in text and "0 | 1" in text and "0 | 9" in text


def test_another_incarnation_of_the_topic_is_wrong():
    report = compare(iter([record(0, 0)]), iter([arow(0, 0)]), "t", "other-id")
    assert report.counts["wrong"] == 1
