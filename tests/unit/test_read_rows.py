"""The read job's Kafka-row -> archive-row function, on a local SparkSession."""

from __future__ import annotations

import datetime as dt

from pyspark.testing import assertDataFrameEqual

from jobs.read_from_kafka import SINK_COLUMNS, to_sink_rows

KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"


def test_key_and_value_become_strings_and_provenance_is_kept(spark):
    ts = dt.datetime(2026, 1, 2, 3, 4, 5)
    rows = spark.createDataFrame(
        [
            (None, bytearray(b"New Kafka message"), "t", 0, 12, ts),
            (bytearray("Zoë".encode()), bytearray(b""), "t", 1, 3, ts),
            (bytearray(b"k\xff"), bytearray(b"\xfe"), "t", 0, 13, ts),
        ],
        KAFKA_SCHEMA,
    )
    out = to_sink_rows(rows, "tid-1")
    assert tuple(out.columns) == SINK_COLUMNS
    expected = spark.createDataFrame(
        [
            (None, "New Kafka message", "t", 0, 12, ts, "tid-1"),
            ("Zoë", "", "t", 1, 3, ts, "tid-1"),
            ("k\ufffd", "\ufffd", "t", 0, 13, ts, "tid-1"),
        ],
        "key string, value string, topic string, partition int, offset long, timestamp timestamp, topic_id string",
    )
    assertDataFrameEqual(out, expected)
