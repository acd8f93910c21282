"""Spark Structured Streaming: players CSV files (``name;age``) from an HDFS directory into a Kafka topic.

Every new file in --source-dir is read line by line (Spark's text source split on LF only, so that a line
keeps its own bytes: invalid UTF-8 is detected per line, a CR inside a line stays in it) and checked by the
rules of include/rows.py, implemented here with Spark SQL functions (no Python UDF):
- a valid row goes to --topic with key = name, value = age as a decimal string;
- any other non-blank line goes to --dlq-topic as JSON {file, line, raw, reason, truncated}.
A large file is read by several tasks, one split each, in bounded memory (nothing is cached). Line numbers are
counted per split first, so that every line still gets its number in the file; rows with the same key reach
Kafka in file order. Both topics are written in one pass of one micro-batch of one query, with one checkpoint.
(Spark's progress counts each line twice in numInputRows, once per pass; the job's own "batch N:" line counts
the rows.)
Kafka's sink is at-least-once: a batch interrupted between the write and the checkpoint commit is written
again on the next run.

    spark-submit --jars <spark-sql-kafka jars> --py-files <zip of jobs/> jobs/write_to_kafka.py \
        --source-dir hdfs://localhost:8020/user/me/testdir --topic kafka-new-topic \
        --bootstrap-servers localhost:9092 --checkpoint hdfs://localhost:8020/user/me/checkpoints/...
"""

from __future__ import annotations

import argparse
import logging
from urllib.parse import unquote

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from jobs.streaming import (
    LeaseWatchdog,
    add_kafka_client_arg,
    add_lease_args,
    add_trigger_args,
    build_session,
    check_trigger_args,
    clear_unstarted_offsets,
    guard_checkpoint,
    kafka_client_options,
    run_query,
    setup_logging,
    with_trigger,
)

log = logging.getLogger("jobs.write_to_kafka")

MAX_AGE = 150
MAX_NAME_CHARS = 1024  # as include/rows.py: a Kafka key must fit in one message
MAX_RAW_CHARS = 65_536  # as include/rows.py: a dead letter's raw line is cut beyond this, and flagged
WS = r"[\t\n\x0B\f\r ]"  # ASCII whitespace, as include/rows.py trims
WS_CHARS = "\t\n\x0b\f\r "  # the same characters, for btrim
LINE_SEPARATOR = "\n"  # LF only: a CR is stripped at the end of a line (CRLF files), kept inside one

# Producer settings a Kafka expert would set for a bulk, ordered, no-loss write (see `make bench`).
PRODUCER_OPTIONS = {
    "kafka.acks": "all",
    "kafka.enable.idempotence": "true",
    "kafka.linger.ms": "20",
    "kafka.batch.size": "262144",
    "kafka.compression.type": "lz4",
    "kafka.max.in.flight.requests.per.connection": "5",
    # a dead broker fails the batch within a minute instead of hanging
    "kafka.delivery.timeout.ms": "60000",
    "kafka.request.timeout.ms": "20000",
    "kafka.max.block.ms": "30000",
}


def _trim(col: Column) -> Column:
    return F.btrim(col, F.lit(WS_CHARS))


def read_text(reader):
    """A DataFrameReader or DataStreamReader set to read CSV files as text lines, split on LF only (the
    source skips a UTF-8 byte-order mark at the start of a file, and keeps each line's bytes as they are)."""
    return reader.format("text").option("lineSep", LINE_SEPARATOR)


def raw_lines(text: DataFrame) -> DataFrame:
    """Rows of a ``read_text`` reader (batch or streaming) -> path (the file, as a URI), split (the first byte of
    the split the line was read in) and raw (the line's bytes, as a string)."""
    return text.select(
        F.col("_metadata.file_path").alias("path"),
        F.col("_metadata.file_block_start").alias("split"),
        F.col("value").alias("raw"),
    )


def number_lines(spark: SparkSession, raw: DataFrame) -> tuple[DataFrame, int, int]:
    """raw_lines -> file, line (1-based, in the whole file), raw; with the number of files and of splits.

    Two passes over the input: the first counts the lines of each split (a few rows, collected), so that a
    line's number is the lines of its file's earlier splits + its place in its own split. Both passes scan the
    same files in the same partitions and order, so a line's position in the scan (``id``, consecutive within
    a split) is the same in both."""
    raw = raw.withColumn("id", F.monotonically_increasing_id())
    splits = raw.groupBy("path", "split").agg(F.count(F.lit(1)).alias("lines"), F.min("id").alias("first_id"))
    numbering, lines_before = [], {}
    for row in sorted(splits.collect(), key=lambda r: (r.path, r.split)):
        before = lines_before.get(row.path, 0)
        # the path is a URI (a space is %20, '%' is %25, '+' stays '+'): decoded, it is the file as Hadoop names
        # it, as the dead letters have always named it (once per split here, not once per line)
        numbering.append((row.path, row.split, unquote(row.path), row.first_id - before - 1))
        lines_before[row.path] = before + row.lines
    offsets = spark.createDataFrame(numbering, "path string, split bigint, file string, offset bigint")
    numbered = raw.join(F.broadcast(offsets), ["path", "split"]).select(
        "file", (F.col("id") - F.col("offset")).alias("line"), "raw"
    )
    return numbered, len(lines_before), len(numbering)


def split_lines(numbered: DataFrame) -> DataFrame:
    """file, line, raw -> file, line, text (valid UTF-8), valid_utf8: a trailing CR removed from the line's own
    bytes (through ISO-8859-1, one char per byte, lossless) before any decoding."""
    raw = F.col("raw")
    latin1 = F.regexp_replace(F.decode(raw.cast("binary"), "ISO-8859-1"), r"\r\z", "")
    line_bytes = F.when(raw.endswith("\r"), F.encode(latin1, "ISO-8859-1").cast("string")).otherwise(raw)
    stripped = numbered.select("file", "line", line_bytes.alias("b"))
    return stripped.select(
        "file",
        "line",
        F.make_valid_utf8("b").alias("text"),
        F.is_valid_utf8("b").alias("valid_utf8"),
    )


def classify(lines: DataFrame) -> DataFrame:
    """Drop blank lines and the header; add name, age and reason (null when the row is valid).

    One projection per step, so that each column is computed once (a column that several branches of the
    reason use would otherwise be computed again in each)."""
    text = F.col("text")
    blank = F.col("valid_utf8") & (_trim(text) == "")
    header = (F.col("line") == 1) & text.rlike(f"(?i)^{WS}*name{WS}*;{WS}*age{WS}*$")
    kept = lines.where(~blank & ~header).select("file", "line", "text", "valid_utf8", F.split(text, ";", -1).alias("f"))
    # get() gives NULL past the end of the array (getItem raises under ANSI mode, Spark 4's default)
    cells = kept.select(
        "file",
        "line",
        "text",
        "valid_utf8",
        F.size("f").alias("fields"),
        _trim(F.get(F.col("f"), 0)).alias("name"),
        _trim(F.get(F.col("f"), 1)).alias("age_text"),
    )
    age = F.col("age_text")
    # leading zeros dropped ("007" -> "7", "000" -> "0"); the regex only runs on ages that start with one
    digits = F.when(age.startswith("0"), F.regexp_replace(age, "^0+(?=[0-9])", "")).otherwise(age)
    cells = cells.select("*", digits.alias("digits"))
    name, digits = F.col("name"), F.col("digits")
    reason = (
        F.when(~F.col("valid_utf8"), F.lit("invalid UTF-8"))
        .when(F.col("fields") != 2, F.concat(F.lit("expected 2 fields, got "), F.col("fields").cast("string")))
        .when(name == "", F.lit("empty name"))
        .when(
            F.length(name) > MAX_NAME_CHARS,
            F.concat(
                F.lit("name too long: "),
                F.length(name).cast("string"),
                F.lit(f" characters (max {MAX_NAME_CHARS})"),
            ),
        )
        .when(age == "", F.lit("empty age"))
        # ASCII digits only, as ^[0-9]+$ would say, without a regex on every row
        .when(F.translate(age, "0123456789", "") != "", F.concat(F.lit("age is not an integer: '"), age, F.lit("'")))
        .when(
            (F.length(digits) > 3) | (digits.try_cast("int") > MAX_AGE),
            F.concat(F.lit(f"age out of range 0..{MAX_AGE}: '"), age, F.lit("'")),
        )
    )
    return cells.select("file", "line", "text", "name", digits.alias("age"), reason.alias("reason"))


def parse_lines(spark: SparkSession, raw: DataFrame) -> tuple[DataFrame, int, int]:
    """raw_lines -> (classified rows: file, line, text, name, age, reason; the number of files; the number of
    splits they were read in)."""
    numbered, files, splits = number_lines(spark, raw)
    return classify(split_lines(numbered)), files, splits


def parse_players(spark: SparkSession, text: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Rows of a ``read_text`` reader -> (valid rows as Kafka key/value, dead letters as Kafka key/value JSON)."""
    rows, _, _ = parse_lines(spark, raw_lines(text))
    return to_valid_messages(rows), to_dead_letters(rows)


def to_valid_messages(rows: DataFrame) -> DataFrame:
    return rows.where(F.col("reason").isNull()).select(F.col("name").alias("key"), F.col("age").alias("value"))


def _dead_letter_key() -> Column:
    return F.concat(F.col("file"), F.lit(":"), F.col("line").cast("string"))


def _dead_letter_value() -> Column:
    return F.to_json(
        F.struct(
            F.col("file"),
            F.col("line"),
            F.substring("text", 1, MAX_RAW_CHARS).alias("raw"),
            F.col("reason"),
            (F.length("text") > MAX_RAW_CHARS).alias("truncated"),
        )
    )


def to_dead_letters(rows: DataFrame) -> DataFrame:
    bad = rows.where(F.col("reason").isNotNull())
    return bad.select(_dead_letter_key().alias("key"), _dead_letter_value().alias("value"))


def to_messages(rows: DataFrame, topic: str, dlq_topic: str, in_file_order: bool) -> DataFrame:
    """Classified rows -> Kafka rows (topic, key, value) for both topics in one pass, plus ``valid``.

    ``in_file_order``: the rows come from several splits (several tasks); they are then hash-partitioned by key
    and sorted by file and line, so that the rows of one key reach Kafka in file order, as from one task."""
    valid = F.col("reason").isNull()
    messages = rows.select(
        F.when(valid, F.lit(topic)).otherwise(F.lit(dlq_topic)).alias("topic"),
        F.when(valid, F.col("name")).otherwise(_dead_letter_key()).alias("key"),
        F.when(valid, F.col("age")).otherwise(_dead_letter_value()).alias("value"),
        valid.alias("valid"),
        "file",
        "line",
    )
    if in_file_order:
        parallelism = rows.sparkSession.sparkContext.defaultParallelism
        messages = messages.repartition(parallelism, "key").sortWithinPartitions("file", "line")
    return messages.select("topic", "key", "value", "valid")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-dir", required=True, help="directory of CSV files (hdfs://...)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--dlq-topic", help="dead-letter topic (default: <topic>.dlq)")
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--max-files-per-trigger", type=int, default=0, help="0 = no limit")
    add_kafka_client_arg(parser)
    add_trigger_args(parser)
    add_lease_args(parser)
    args = parser.parse_args(argv)
    check_trigger_args(parser, args)
    args.dlq_topic = args.dlq_topic or f"{args.topic}.dlq"
    return args


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    spark = build_session(f"write_to_kafka[{args.topic}]")
    LeaseWatchdog.start_for(spark, args)  # before anything is written to the checkpoint
    guard_checkpoint(
        spark,
        args.checkpoint,
        {"job": "write_to_kafka", "source_dir": args.source_dir, "topic": args.topic, "dlq_topic": args.dlq_topic},
    )
    # Kafka's batch writer through DataSource V2 (Spark lists kafka among its V1 sources by default): only then
    # does the Observation in write_batch see the rows the write consumed (a V1 save runs its query apart).
    v1_sources = spark.conf.get("spark.sql.sources.useV1SourceList").split(",")
    spark.conf.set("spark.sql.sources.useV1SourceList", ",".join(s for s in v1_sources if s.strip() != "kafka"))
    reader = read_text(spark.readStream)
    if args.max_files_per_trigger > 0:
        reader = reader.option("maxFilesPerTrigger", args.max_files_per_trigger)
    # the file's path and split are taken here, in the streaming query (a micro-batch handed to foreachBatch no
    # longer has the source's _metadata)
    lines = raw_lines(reader.load(args.source_dir))
    kafka_options = {
        "kafka.bootstrap.servers": args.bootstrap_servers,
        **PRODUCER_OPTIONS,
        **kafka_client_options(args.kafka_client_config),
    }
    totals = {"rows_in": 0, "valid": 0, "dead_lettered": 0, "files": 0}

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        rows, files, splits = parse_lines(batch.sparkSession, batch)
        counted = Observation(f"write_to_kafka batch {batch_id}")
        messages = to_messages(rows, args.topic, args.dlq_topic, in_file_order=splits > 1).observe(
            counted,
            F.count(F.lit(1)).alias("rows_in"),
            F.count(F.when(F.col("valid"), 1)).alias("valid"),
            F.count(F.when(~F.col("valid"), 1)).alias("dead"),
        )
        # one write for both topics: each row names its own (the sink's "topic" column; it ignores "valid")
        messages.write.mode("append").format("kafka").options(**kafka_options).save()
        counts = counted.get
        totals["rows_in"] += counts["rows_in"]
        totals["valid"] += counts["valid"]
        totals["dead_lettered"] += counts["dead"]
        totals["files"] += files
        log.info(
            "batch %d: files=%d rows in=%d valid=%d dead-lettered=%d",
            batch_id,
            files,
            counts["rows_in"],
            counts["valid"],
            counts["dead"],
        )

    clear_unstarted_offsets(spark, args.checkpoint)
    query = with_trigger(
        lines.writeStream.queryName(f"write_to_kafka:{args.topic}")
        .option("checkpointLocation", args.checkpoint)
        .foreachBatch(write_batch),
        args,
    ).start()
    run_query(query, args)
    log.info(
        "write_to_kafka done: files=%d rows in=%d valid=%d dead-lettered=%d (topic %s, dead letters %s)",
        totals["files"],
        totals["rows_in"],
        totals["valid"],
        totals["dead_lettered"],
        args.topic,
        args.dlq_topic,
    )
    spark.stop()


if __name__ == "__main__":
    main()
