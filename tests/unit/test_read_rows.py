"""The read job's Kafka-row -> archive-row function, console view and archive writer, on a local SparkSession."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from jobs import archive
from jobs.read_from_kafka import console_columns, to_archive_rows

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
    assertDataFrameEqual(kafka_rows(spark).select(*console_columns()), expected)


def archive_writer(spark, tmp_path, console_rows=0):
    import argparse

    from jobs.read_from_kafka import ArchiveWriter

    spark.conf.set("spark.sql.session.timeZone", "UTC")
    args = argparse.Namespace(
        output_dir=f"file://{tmp_path}/archive",
        checkpoint=f"file://{tmp_path}/checkpoint",
        topic_id="tid-1",
        console_rows=console_rows,
    )
    return ArchiveWriter(spark, args, "archive-1")


def archived(tmp_path) -> dict[str, list[tuple]]:
    """{date folder: [(partition, offset, value)]}, read by pyarrow from the archive's files alone."""
    import pyarrow.parquet as pq

    return {
        folder.name: sorted(
            (r["partition"], r["offset"], r["value"])
            for path in sorted(folder.glob("*.parquet"))
            for r in pq.read_table(path).to_pylist()
        )
        for folder in sorted((tmp_path / "archive").glob("date=*"))
    }


def test_a_batch_of_one_date_is_moved_whole_into_its_folder_and_shown_on_the_console(spark, tmp_path, capsys):
    writer = archive_writer(spark, tmp_path, console_rows=5)
    writer(kafka_rows(spark).where("offset != 12"), 0)  # both rows of 2026-01-03
    assert archived(tmp_path) == {"date=2026-01-03": [(0, 13, b"\xfe"), (1, 3, b"")]}
    assert (tmp_path / "archive" / archive.LOG_DIR / "0.json").exists()
    assert not (tmp_path / "checkpoint" / archive.STAGING_DIR / "0").exists()
    out = capsys.readouterr().out
    assert "Batch: 0" in out and "|Zoë" in out


def range_batch(spark, first_row: int):
    """Kafka-shaped rows over 3 Spark partitions (ids 0-9, 10-19, 20-29), rows before ``first_row`` left out:
    keys with invalid UTF-8 and nulls, a value with a newline."""
    return (
        spark.range(0, 30, 1, 3)
        .where(f"id >= {first_row}")
        .selectExpr(
            "CASE WHEN id % 7 = 0 THEN NULL ELSE concat(X'6BFF', cast(cast(id AS string) AS binary)) END AS key",
            "cast(CASE WHEN id = 13 THEN 'two\\nlines' ELSE concat('Zoë ', id) END AS binary) AS value",
            "cast(NULL AS array<struct<key:string,value:binary>>) AS headers",
            "'t' AS topic",
            "0 AS partition",
            "id AS offset",
            "timestamp'2026-01-03 10:00:00' AS timestamp",
            "0 AS timestampType",
        )
    )


@pytest.mark.parametrize(("first_row", "console_rows"), [(12, 10), (0, 40), (25, 3)])
def test_the_console_prints_the_batchs_first_rows_as_sparks_own_show_of_the_batch(
    spark, tmp_path, capsys, first_row, console_rows
):
    """The independent reader: Spark's own show() of the tutorial's cast over the whole batch (the first rows in
    partition order, skipping empty partitions, and "only showing top N rows" when the batch has more). The
    writer builds its columns once: its second batch is shown from that batch's own rows too."""
    writer = archive_writer(spark, tmp_path, console_rows=console_rows)
    for batch_id, first in enumerate((first_row, (first_row + 7) % 30)):
        batch = range_batch(spark, first)
        tutorial = batch.selectExpr("cast(key as string) AS key", "cast(value as string) AS value")
        tutorial.show(console_rows, truncate=False)
        expected = capsys.readouterr().out
        writer(batch, batch_id)
        out = capsys.readouterr().out
        assert out.split(f"Batch: {batch_id}\n-------------------------------------------\n", 1)[1].startswith(expected)
        assert ("only showing top" in expected) == (30 - first > console_rows)


def test_a_batch_across_midnight_is_split_by_date_and_a_stop_still_lets_the_runs_first_batch_commit(spark, tmp_path):
    from jobs.read_from_kafka import StopRequested

    writer = archive_writer(spark, tmp_path)
    writer.request_stop()  # asked before the run's first batch reached the sink (Spark was still planning it)
    writer(kafka_rows(spark), 0)
    assert archived(tmp_path) == {
        "date=2026-01-02": [(0, 12, b"New Kafka message")],
        "date=2026-01-03": [(0, 13, b"\xfe"), (1, 3, b"")],
    }
    with pytest.raises(StopRequested):  # a later batch stops before it writes anything
        writer(kafka_rows(spark), 1)
    assert not (tmp_path / "archive" / archive.LOG_DIR / "1.json").exists()
