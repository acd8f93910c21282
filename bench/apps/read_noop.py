"""The read ceiling: Spark's Kafka source alone, as the read job builds it, into Spark's ``noop`` sink.

    spark-submit ... --py-files jobs/spark_streaming.py,jobs/read_from_kafka.py bench/apps/read_noop.py \
        <the read job's own arguments: --topic ... --bootstrap-servers ... --output-dir ... --checkpoint ...>

Parses the job's arguments with the job's ``parse_args``, builds the job's stream (``kafka_stream``: the same
consumer options and ``maxRecordsPerPartition`` splitting) and runs it as one availableNow query whose sink is
``noop``: every record is fetched and turned into a Spark row; nothing is projected or written
(``--output-dir`` is not used; the query's checkpoint is ``<--checkpoint>/noop``). Any Spark job that reads
the topic pays at least this, in a JVM as cold as the job's. Prints
``BENCH_RESULT {"rows": N, "add_batch_ms": [...]}`` from the query's progress.
"""

from __future__ import annotations

import json
import sys

from read_from_kafka import kafka_stream, parse_args
from spark_streaming import build_session


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    spark = build_session("bench-read-noop")
    query = (
        kafka_stream(spark, args)
        .writeStream.queryName("read-noop")
        .format("noop")
        .option("checkpointLocation", f"{args.checkpoint.rstrip('/')}/noop")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    batches = [p for p in query.recentProgress if p["numInputRows"]]
    result = {
        "rows": sum(p["numInputRows"] for p in batches),
        "add_batch_ms": [p["durationMs"].get("addBatch", 0) for p in batches],
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
