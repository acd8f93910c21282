"""The read job's Kafka source, as the job builds it, into a reference sink: the read ceiling and the archive's
earlier shape.

    spark-submit ... --py-files <zip of jobs/> bench/apps/read_source.py {noop|string-archive} \
        <the read job's own arguments: --topic ... --bootstrap-servers ... --output-dir ... --checkpoint ...>

Parses the job's arguments with the job's ``parse_args``, builds the job's stream (``kafka_stream``: the same
consumer options and ``maxRecordsPerPartition`` splitting) and runs it as the job runs its query
(``run_query``: the job's ``batch progress:`` line per micro-batch), as one query named after its sink, which
checkpoints to ``<--checkpoint>/<sink>``, into

- ``noop``: Spark's noop sink; every record is fetched and turned into a Spark row, nothing is projected or
  written. Any Spark job that reads the topic pays at least this, in a JVM as cold as the job's
  (``--output-dir`` is not used);
- ``string-archive``: Spark's Parquet file sink in the archive's shape until 2026-12-02 (issue #16): key and
  value cast to (valid) strings, topic, partition, offset, timestamp and the topic's id; no headers, no date
  partitions, no console, no archive log of its own, no staging. The bench runs it beside the job in the same
  run, so that what the archive's present shape costs is measured, not remembered (in ``<--output-dir>-string``).
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter

from jobs.read_from_kafka import kafka_stream, parse_args
from jobs.streaming import build_session, run_query, setup_logging, with_trigger


def noop(records: DataFrame, args: argparse.Namespace) -> DataStreamWriter:
    return records.writeStream.format("noop")


def string_archive(records: DataFrame, args: argparse.Namespace) -> DataStreamWriter:
    rows = records.select(
        F.make_valid_utf8(F.col("key").cast("string")).alias("key"),
        F.make_valid_utf8(F.col("value").cast("string")).alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp"),
        F.lit(args.topic_id).alias("topic_id"),
    )
    return rows.writeStream.format("parquet").option("path", f"{args.output_dir.rstrip('/')}-string")


SINKS = {"noop": noop, "string-archive": string_archive}


def main(argv: list[str]) -> None:
    setup_logging()
    name, args = argv[0], parse_args(argv[1:])
    spark = build_session(f"bench-read-{name}")
    writer = (
        SINKS[name](kafka_stream(spark, args), args)
        .queryName(name)  # bench/stages/read_ceiling.py reads its progress
        .option("checkpointLocation", f"{args.checkpoint.rstrip('/')}/{name}")
    )
    run_query(with_trigger(writer, args).start(), args)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
