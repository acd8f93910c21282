"""spark-submit's start time with the Kafka connector: a session, and the connector's source resolved.

Builds the SparkSession and plans a batch read with ``format("kafka")`` (which fails at once when the
connector's jars are not on the classpath), without contacting any broker; then stops.
"""

from __future__ import annotations

from pyspark.sql import SparkSession


def main() -> None:
    spark = SparkSession.builder.appName("bench-submit-probe").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", "localhost:9092")
        .option("subscribe", "bench-probe")
        .load()
    )
    print("BENCH_RESULT " + frame.schema.simpleString(), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
