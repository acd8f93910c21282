"""The read job's Kafka-row -> archive-row function and its console view, on a local SparkSession."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from jobs import archive
from jobs.read_from_kafka import console_view, to_archive_rows

KAFKA_SCHEMA = (
    "key binary, value binary, headers array<struct<key:string,value:binary>>, topic string, partition int, "
    "offset long, timestamp timestamp, timestampType int"
)


def kafka_rows(spark):
    late = dt.datetime(2026, 1, 2, 23, 59, 59)
    early = dt.datetime(2026, 1, 3, 0, 0, 0)
    return spark.createDataFrame(
        [
            (None, bytearray(b"New Kafka message"), None, "t", 0, 12, late, 0),
            (bytearray("Zoë".encode()), bytearray(b""), [("h", bytearray(b"\x00\x01"))], "t", 1, 3, early, 1),
            (bytearray(b"k\xff"), bytearray(b"\xfe"), [("a", None), ("a", bytearray(b"2"))], "t", 0, 13, early, 0),
        ],
        KAFKA_SCHEMA,
    )


def test_the_archive_keeps_the_records_bytes_headers_and_provenance_with_the_utc_date(spark):
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    out = to_archive_rows(kafka_rows(spark), "tid-1")
    assert tuple(out.columns) == (*archive.COLUMNS, archive.DATE_COLUMN)
    got = {(r["partition"], r["offset"]): r for r in out.collect()}
    assert got[(0, 13)]["key"] == bytearray(b"k\xff") and got[(0, 13)]["value"] == bytearray(b"\xfe")
    assert [(h["key"], h["value"]) for h in got[(0, 13)]["headers"]] == [("a", None), ("a", bytearray(b"2"))]
    assert got[(0, 12)]["headers"] is None and got[(0, 12)]["key"] is None
    assert str(got[(0, 12)]["date"]) == "2026-01-02" and str(got[(1, 3)]["date"]) == "2026-01-03"
    assert {r["topic_id"] for r in got.values()} == {"tid-1"}


def test_the_console_shows_the_tutorials_string_cast(spark):
    expected = spark.createDataFrame(
        [(None, "New Kafka message"), ("Zoë", ""), ("k\ufffd", "\ufffd")], "key string, value string"
    )
    assertDataFrameEqual(console_view(kafka_rows(spark)), expected)
