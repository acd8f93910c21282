"""The read ceiling: Spark's Kafka source alone, as the read job builds it, into Spark's ``noop`` sink.

    spark-submit ... --py-files <zip of jobs/> bench/apps/read_noop.py \
        <the read job's own arguments: --topic ... --bootstrap-servers ... --output-dir ... --checkpoint ...>

Parses the job's arguments with the job's ``parse_args``, builds the job's stream (``kafka_stream``: the same
consumer options and ``maxRecordsPerPartition`` splitting) and runs it, as the job runs its queries
(``run_query``), as one query named ``read-noop`` whose sink is ``noop``: every record is fetched and turned
into a Spark row; nothing is projected or written (``--output-dir`` is not used; the query's checkpoint is
``<--checkpoint>/noop``). Any Spark job that reads the topic pays at least this, in a JVM as cold as the
job's. Logs the job's ``batch progress:`` line per micro-batch.
"""

from __future__ import annotations

import sys

from jobs.read_from_kafka import kafka_stream, parse_args
from jobs.streaming import build_session, run_query, setup_logging, with_trigger


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    spark = build_session("bench-read-noop")
    query = with_trigger(
        kafka_stream(spark, args)
        .writeStream.queryName("read-noop")  # bench/run.py stage_read_ceiling reads its progress
        .format("noop")
        .option("checkpointLocation", f"{args.checkpoint.rstrip('/')}/noop"),
        args,
    ).start()
    run_query(query, args)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
