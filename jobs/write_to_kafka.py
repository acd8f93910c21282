"""Spark Structured Streaming: players CSV files (``name;age``) from an HDFS directory into a Kafka topic.

Every new file in --source-dir is read whole (bytes), split into lines and checked by the rules of
include/players.py, implemented here with Spark SQL functions (no Python UDF):
- a valid row goes to --topic with key = name, value = age as a decimal string;
- any other non-blank line goes to --dlq-topic as JSON {file, line, raw, reason, truncated}.
Both writes happen in one micro-batch of one query, with one checkpoint. Kafka's sink is at-least-once:
a batch interrupted between the write and the checkpoint commit is written again on the next run.

    spark-submit --jars <spark-sql-kafka jars> --py-files jobs/spark_streaming.py jobs/write_to_kafka.py \
        --source-dir hdfs://localhost:8020/user/me/testdir --topic kafka-new-topic \
        --bootstrap-servers localhost:9092 --checkpoint hdfs://localhost:8020/user/me/checkpoints/...
"""

from __future__ import annotations

import argparse
import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from spark_streaming import (
    add_kafka_client_arg,
    add_trigger_args,
    build_session,
    check_trigger_args,
    guard_checkpoint,
    kafka_client_options,
    run_queries,
    setup_logging,
    with_trigger,
)

log = logging.getLogger("jobs.write_to_kafka")

MAX_AGE = 150
MAX_NAME_CHARS = 1024  # as include/players.py: a Kafka key must fit in one message
MAX_RAW_CHARS = 65_536  # as include/players.py: a dead letter's raw line is cut beyond this, and flagged
WS = r"[\t\n\x0B\f\r ]"  # ASCII whitespace, as include/players.py trims
BINARY_FILE_SCHEMA = "path STRING, modificationTime TIMESTAMP, length BIGINT, content BINARY"

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
    return F.regexp_replace(col, f"^{WS}+|{WS}+$", "")


def split_lines(files: DataFrame) -> DataFrame:
    """(path, content) -> one row per physical line: file, line (1-based), text, valid_utf8.

    The bytes are split on LF through ISO-8859-1 (one char per byte, lossless), so that every line keeps its
    own bytes and invalid UTF-8 is detected per line, not hidden by an early decode.
    """
    exploded = files.select(
        F.col("path").alias("file"),
        F.posexplode(F.split(F.decode(F.col("content"), "ISO-8859-1"), "\n", -1)).alias("pos", "latin1"),
    )
    latin1 = F.when(F.col("pos") == 0, F.regexp_replace("latin1", "^\u00ef\u00bb\u00bf", "")).otherwise(F.col("latin1"))
    latin1 = F.regexp_replace(latin1, r"\r\z", "")
    utf8 = F.encode(latin1, "ISO-8859-1").cast("string")
    return exploded.select(
        "file",
        (F.col("pos") + 1).alias("line"),
        F.make_valid_utf8(utf8).alias("text"),
        F.is_valid_utf8(utf8).alias("valid_utf8"),
    )


def classify(lines: DataFrame) -> DataFrame:
    """Drop blank lines and the header; add name, age and reason (null when the row is valid)."""
    text = F.col("text")
    blank = F.col("valid_utf8") & text.rlike(f"^{WS}*$")
    header = (F.col("line") == 1) & text.rlike(f"(?i)^{WS}*name{WS}*;{WS}*age{WS}*$")
    fields = F.split(text, ";", -1)
    # get() gives NULL past the end of the array (getItem raises under ANSI mode, Spark 4's default)
    name = _trim(F.get(fields, 0))
    age = _trim(F.get(fields, 1))
    digits = F.regexp_replace(age, "^0+(?=[0-9])", "")
    reason = (
        F.when(~F.col("valid_utf8"), F.lit("invalid UTF-8"))
        .when(F.size(fields) != 2, F.concat(F.lit("expected 2 fields, got "), F.size(fields).cast("string")))
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
        .when(~age.rlike("^[0-9]+$"), F.concat(F.lit("age is not an integer: '"), age, F.lit("'")))
        .when(
            (F.length(digits) > 3) | (digits.try_cast("int") > MAX_AGE),
            F.concat(F.lit(f"age out of range 0..{MAX_AGE}: '"), age, F.lit("'")),
        )
    )
    return lines.where(~blank & ~header).select(
        "file", "line", "text", name.alias("name"), digits.alias("age"), reason.alias("reason")
    )


def parse_players(files: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(path, content) files -> (valid rows as Kafka key/value, dead letters as Kafka key/value JSON)."""
    rows = classify(split_lines(files))
    return to_valid_messages(rows), to_dead_letters(rows)


def to_valid_messages(rows: DataFrame) -> DataFrame:
    return rows.where(F.col("reason").isNull()).select(F.col("name").alias("key"), F.col("age").alias("value"))


def to_dead_letters(rows: DataFrame) -> DataFrame:
    bad = rows.where(F.col("reason").isNotNull())
    letter = F.struct(
        F.col("file"),
        F.col("line"),
        F.substring("text", 1, MAX_RAW_CHARS).alias("raw"),
        F.col("reason"),
        (F.length("text") > MAX_RAW_CHARS).alias("truncated"),
    )
    return bad.select(
        F.concat(F.col("file"), F.lit(":"), F.col("line").cast("string")).alias("key"),
        F.to_json(letter).alias("value"),
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-dir", required=True, help="directory of CSV files (hdfs://...)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--dlq-topic", help="dead-letter topic (default: <topic>.dlq)")
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--max-files-per-trigger", type=int, default=0, help="0 = no limit")
    add_kafka_client_arg(parser)
    add_trigger_args(parser)
    args = parser.parse_args(argv)
    check_trigger_args(parser, args)
    args.dlq_topic = args.dlq_topic or f"{args.topic}.dlq"
    return args


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    spark = build_session(f"write_to_kafka[{args.topic}]")
    guard_checkpoint(
        spark,
        args.checkpoint,
        {"job": "write_to_kafka", "source_dir": args.source_dir, "topic": args.topic, "dlq_topic": args.dlq_topic},
    )
    reader = spark.readStream.format("binaryFile").schema(BINARY_FILE_SCHEMA)
    if args.max_files_per_trigger > 0:
        reader = reader.option("maxFilesPerTrigger", args.max_files_per_trigger)
    files = reader.load(args.source_dir).select("path", "content")
    kafka_options = {
        "kafka.bootstrap.servers": args.bootstrap_servers,
        **PRODUCER_OPTIONS,
        **kafka_client_options(args.kafka_client_config),
    }
    totals = {"rows_in": 0, "valid": 0, "dead_lettered": 0, "files": 0}

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        rows = classify(split_lines(batch)).persist()
        try:
            counts = rows.agg(
                F.count(F.lit(1)).alias("rows_in"),
                F.count(F.when(F.col("reason").isNull(), 1)).alias("valid"),
                F.count(F.when(F.col("reason").isNotNull(), 1)).alias("dead"),
                F.countDistinct("file").alias("files"),
            ).first()
            to_valid_messages(rows).write.format("kafka").options(**kafka_options).option("topic", args.topic).save()
            to_dead_letters(rows).write.format("kafka").options(**kafka_options).option("topic", args.dlq_topic).save()
        finally:
            rows.unpersist()
        for key, value in (("rows_in", counts.rows_in), ("valid", counts.valid), ("dead_lettered", counts.dead)):
            totals[key] += value
        totals["files"] += counts.files
        log.info(
            "batch %d: files=%d rows in=%d valid=%d dead-lettered=%d",
            batch_id,
            counts.files,
            counts.rows_in,
            counts.valid,
            counts.dead,
        )

    query = with_trigger(
        files.writeStream.queryName(f"write_to_kafka:{args.topic}")
        .option("checkpointLocation", args.checkpoint)
        .foreachBatch(write_batch),
        args,
    ).start()
    run_queries([query], args)
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
