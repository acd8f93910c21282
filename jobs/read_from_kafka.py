"""Spark Structured Streaming: a Kafka topic to the console (as in the tutorial) and to a Parquet archive on HDFS.

Two queries read the topic, each with its own checkpoint under --checkpoint:
- ``archive``: key and value cast to string (invalid UTF-8 becomes U+FFFD), with topic, partition, offset and
  timestamp, appended to Parquet in --output-dir. The file sink's commit log (``_spark_metadata``) makes the
  archive exactly-once: a re-run continues after the last committed batch, and readers see only committed files.
- ``console``: the same rows printed to stdout, in append mode, as the tutorial's query did.

    spark-submit --jars <spark-sql-kafka jars> --py-files <zip of jobs/> jobs/read_from_kafka.py \
        --topic kafka-new-topic --bootstrap-servers localhost:9092 \
        --output-dir hdfs://localhost:8020/user/me/kafka-new-topic-archive --checkpoint hdfs://.../checkpoint
"""

from __future__ import annotations

import argparse
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.streaming import (
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

log = logging.getLogger("jobs.read_from_kafka")

# A dead broker fails the query within about a minute instead of hanging on Spark's defaults (120 s polls,
# 60 s admin calls retried 3 times).
CONSUMER_OPTIONS = {
    "kafka.default.api.timeout.ms": "20000",
    "kafka.request.timeout.ms": "15000",
    "kafkaConsumer.pollTimeoutMs": "20000",
    "fetchOffset.numRetries": "2",
    "fetchOffset.retryIntervalMs": "1000",
    # A backlog larger than this per Kafka partition is read by several Spark tasks in parallel (a 1-partition
    # topic would otherwise be read by one core); small micro-batches stay one task (and one Parquet file).
    # Each task pays a fixed cost (its consumer's seek and first fetch, one Parquet file and HDFS block), so a
    # split must be large enough to pay it back while a large backlog still uses every core
    # (docs/performance.md has the measurements).
    "maxRecordsPerPartition": "500000",
    # Larger polls and fetches: with Kafka's defaults (500 records a poll, 1 MiB a partition fetch) a task
    # spends most of its time in poll round trips.
    "kafka.max.poll.records": "100000",
    "kafka.max.partition.fetch.bytes": str(16 * 1024 * 1024),
    "kafka.fetch.max.bytes": str(64 * 1024 * 1024),
}

# The consumers' group ids start with this, so that a Kafka ACL can grant the reader exactly these groups
# (a copy of include/config.py SPARK_GROUP_ID_PREFIX, pinned by tests/unit: the job is shipped alone;
# Spark's default is spark-kafka-source-<uuid>).
GROUP_ID_PREFIX = "kafka-spark-airflow-spark"

SINK_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp", "topic_id")


def to_sink_rows(kafka_rows: DataFrame, topic_id: str = "") -> DataFrame:
    """Kafka source rows -> archive rows: key and value as (valid) strings, plus where each record came from.

    ``topic_id`` (Kafka's id of the topic's current incarnation) tells apart records of a topic that was
    deleted and recreated, whose (partition, offset) pairs start again from 0.
    """
    return kafka_rows.select(
        F.make_valid_utf8(F.col("key").cast("string")).alias("key"),
        F.make_valid_utf8(F.col("value").cast("string")).alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp"),
        F.lit(topic_id).alias("topic_id"),
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--output-dir", required=True, help="Parquet archive directory (hdfs://...)")
    parser.add_argument("--topic-id", default="", help="Kafka's id of the topic, recorded with every row")
    parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest")
    parser.add_argument("--fail-on-data-loss", choices=["true", "false"], default="false")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=0, help="0 = no limit")
    parser.add_argument("--console-rows", type=int, default=50, help="rows printed per batch on the console")
    parser.add_argument("--no-console", action="store_true", help="archive only (no console query)")
    add_kafka_client_arg(parser)
    add_trigger_args(parser)
    args = parser.parse_args(argv)
    check_trigger_args(parser, args)
    return args


def kafka_stream(spark, args: argparse.Namespace) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap_servers)
        .option("subscribe", args.topic)
        .option("startingOffsets", args.starting_offsets)
        .option("failOnDataLoss", args.fail_on_data_loss)
        .options(**CONSUMER_OPTIONS)
        .option("groupIdPrefix", GROUP_ID_PREFIX)
        .options(**kafka_client_options(args.kafka_client_config))
    )
    if args.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", args.max_offsets_per_trigger)
    return reader.load()


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    spark = build_session(f"read_from_kafka[{args.topic}]")
    checkpoint = args.checkpoint.rstrip("/")
    guard_checkpoint(spark, checkpoint, {"job": "read_from_kafka", "topic": args.topic, "output_dir": args.output_dir})
    rows = to_sink_rows(kafka_stream(spark, args), args.topic_id)
    queries = [
        with_trigger(
            rows.writeStream.queryName(f"archive:{args.topic}")
            .format("parquet")
            .outputMode("append")
            .option("path", args.output_dir)
            .option("checkpointLocation", f"{checkpoint}/archive"),
            args,
        ).start()
    ]
    if not args.no_console:
        queries.append(
            with_trigger(
                rows.select("key", "value", "partition", "offset")
                .writeStream.queryName(f"console:{args.topic}")
                .format("console")
                .outputMode("append")
                .option("truncate", "false")
                .option("numRows", args.console_rows)
                .option("checkpointLocation", f"{checkpoint}/console"),
                args,
            ).start()
        )
    run_queries(queries, args)
    spark.stop()


if __name__ == "__main__":
    main()
