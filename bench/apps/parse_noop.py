"""The parse ceiling: the write job's own parsing functions, from the CSV on HDFS to Spark's ``noop`` sink.

    spark-submit ... --py-files <zip of jobs/> bench/apps/parse_noop.py \
        --source hdfs://localhost:8020/user/me/bench-x/landing

Reads the files as the write job does (text lines, numbered per split), runs parse_lines ->
to_valid_messages, and writes to ``noop`` (every row computed, nothing stored). Prints one line
``BENCH_RESULT {"rows": N, "seconds": S}``: the rows that reached the sink (counted in the same pass, with an
Observation) and the time of that action alone (no JVM or session start).
"""

from __future__ import annotations

import argparse
import json
import time

from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from jobs.write_to_kafka import parse_lines, raw_lines, read_text, to_valid_messages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="a CSV file or directory (hdfs://...)")
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("bench-parse-noop").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    start = time.monotonic()
    rows, _, _ = parse_lines(spark, raw_lines(read_text(spark.read).load(args.source)))  # the split count pass
    observed = Observation("sink")
    valid = to_valid_messages(rows).observe(observed, F.count(F.lit(1)).alias("rows"))
    valid.write.format("noop").mode("overwrite").save()
    seconds = time.monotonic() - start
    print("BENCH_RESULT " + json.dumps({"rows": observed.get["rows"], "seconds": seconds}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
