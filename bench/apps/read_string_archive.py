"""A reference for the read job: the archive's shape before issue #16, on the job's own Kafka source.

    spark-submit ... --py-files <zip of jobs/> bench/apps/read_string_archive.py \
        <the read job's own arguments: --topic ... --bootstrap-servers ... --output-dir ... --checkpoint ...>

The job's source (``kafka_stream``: its arguments and consumer options) into Spark's own Parquet file sink, as
the job wrote its archive until 2026-12-02: key and value cast to (valid) strings, topic, partition, offset,
timestamp and the topic's id; no headers, no date partitions, no console, no archive log of its own, no
staging. The bench runs it beside the job, in the same run, so that what the archive's present shape costs
(bytes, headers, dates, the console's sample, the commit and renames) is measured, not remembered. Writes to
``<--output-dir>-string`` and checkpoints to ``<--checkpoint>/string``; logs the job's ``batch progress:``
line per micro-batch (query ``string-archive``).
"""

from __future__ import annotations

import sys

from pyspark.sql import functions as F

from jobs.read_from_kafka import kafka_stream, parse_args
from jobs.streaming import build_session, run_query, setup_logging, with_trigger


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    spark = build_session("bench-read-string-archive")
    rows = kafka_stream(spark, args).select(
        F.make_valid_utf8(F.col("key").cast("string")).alias("key"),
        F.make_valid_utf8(F.col("value").cast("string")).alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp"),
        F.lit(args.topic_id).alias("topic_id"),
    )
    query = with_trigger(
        rows.writeStream.queryName("string-archive")  # bench/stages/read_ceiling.py reads its progress
        .format("parquet")
        .option("path", f"{args.output_dir.rstrip('/')}-string")
        .option("checkpointLocation", f"{args.checkpoint.rstrip('/')}/string"),
        args,
    ).start()
    run_query(query, args)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
