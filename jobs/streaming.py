"""What both Spark jobs share: the session, the trigger (and how a timed run stops), and the checkpoint guard.

Shipped with each job in the jobs package zip (spark-submit --py-files, include/spark_app.py jobs_archive);
no Airflow imports, nothing of include/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

log = logging.getLogger("jobs")

AVAILABLE_NOW = "availableNow"
PROCESSING_TIME = "processingTime"
IDENTITY_FILE = "_query_identity.json"


class CheckpointMismatch(SystemExit):
    """A checkpoint that belongs to another query: refused, with how to fix it."""


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout, force=True
    )


def add_trigger_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory of this query (one per query)")
    parser.add_argument("--trigger", choices=[AVAILABLE_NOW, PROCESSING_TIME], default=AVAILABLE_NOW)
    parser.add_argument("--interval-seconds", type=float, default=5.0, help="processingTime: micro-batch interval")
    parser.add_argument("--run-seconds", type=float, default=60.0, help="processingTime: how long the query runs")


def add_kafka_client_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-client-config",
        help="JSON file (mode 0600) of Kafka client security settings (security.protocol, sasl.jaas.config, "
        "ssl.truststore.*): read here and set as options in memory, so no secret is on the command line",
    )


def kafka_client_options(path: str | None) -> dict[str, str]:
    """The security options of the Kafka source/sink (``kafka.``-prefixed), from the file given by path."""
    if not path:
        return {}
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise SystemExit(f"--kafka-client-config {path} is readable by others (mode {oct(mode & 0o777)}): use 0600")
    with open(path) as handle:
        options = json.load(handle)
    return {f"kafka.{key}": str(value) for key, value in options.items()}


def check_trigger_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.interval_seconds <= 0:
        parser.error(f"--interval-seconds must be > 0, got {args.interval_seconds}")
    if args.run_seconds < 0:
        parser.error(f"--run-seconds must be >= 0, got {args.run_seconds}")


def exit_with_parent() -> None:
    """Have the kernel kill this Python driver when the JVM that launched it dies (kill -9, OOM, Airflow's
    on_kill), so that no orphan driver outlives its job and races with a retry.

    spark-submit runs the driver JVM, which runs this script as its child. A watchdog thread can't do this
    job: once the JVM is gone, the interpreter may hang in shutdown, where threads no longer run.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the call above took effect
        os._exit(3)


def build_session(app_name: str) -> SparkSession:
    exit_with_parent()
    spark = SparkSession.builder.appName(app_name).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def with_trigger(writer: DataStreamWriter, args: argparse.Namespace) -> DataStreamWriter:
    if args.trigger == AVAILABLE_NOW:
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=f"{int(args.interval_seconds * 1000)} milliseconds")


def run_queries(queries: list[StreamingQuery], args: argparse.Namespace) -> None:
    """availableNow: wait until every query has drained its input. processingTime: run for --run-seconds,
    then stop each query between micro-batches (never in the middle of one)."""
    if args.trigger == AVAILABLE_NOW:
        for query in queries:
            try:
                query.awaitTermination()
            except Exception:  # noqa: BLE001 - reported below with the broker and checkpoint it concerns
                break
    else:
        deadline = time.monotonic() + args.run_seconds
        while time.monotonic() < deadline and all(q.isActive for q in queries):
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        for query in queries:
            while query.isActive and query.status.get("isTriggerActive"):
                time.sleep(0.1)
            query.stop()
    for query in queries:
        if query.exception() is not None:
            raise SystemExit(
                f"streaming query {query.name} failed (Kafka broker(s) {args.bootstrap_servers}, "
                f"checkpoint {args.checkpoint}): {query.exception()}"
            )
        for progress in query.recentProgress:  # one line per micro-batch: rows and where the time went
            log.info("batch progress: %s", batch_progress(progress))
        log.info("query %s finished; last progress: %s", query.name, _short_progress(query))


def batch_progress(progress: dict) -> str:
    """A micro-batch's progress as one JSON line: query, batch id, rows, and durations in ms (addBatch is the
    time the batch's tasks took: reading, transforming, writing)."""
    return json.dumps(
        {
            "query": progress.get("name"),
            "batchId": progress.get("batchId"),
            "numInputRows": progress.get("numInputRows"),
            "durationMs": progress.get("durationMs"),
        },
        sort_keys=True,
    )


def _short_progress(query: StreamingQuery) -> str:
    progress = query.lastProgress
    if not progress:
        return "no batch ran (no new input)"
    return json.dumps({k: progress.get(k) for k in ("batchId", "numInputRows", "timestamp")})


def guard_checkpoint(spark: SparkSession, checkpoint: str, identity: dict[str, str]) -> None:
    """Record which query owns ``checkpoint``; refuse to run another query on it.

    Spark would otherwise fail deep inside with "Wrong basePath" or, worse, silently skip data that the
    other query had consumed.
    """
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/{IDENTITY_FILE}")
    fs = path.getFileSystem(conf)
    wanted = json.dumps(identity, sort_keys=True)
    if fs.exists(path):
        stream = fs.open(path)
        try:
            found = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
        if json.loads(found) != identity:
            raise CheckpointMismatch(
                f"checkpoint {checkpoint} belongs to another query:\n  it was made for {found}\n"
                f"  this run is      {wanted}\n"
                "A checkpoint is bound to one query (its source, topic and sink). Use this query's own "
                "checkpoint, or, to start this query over from nothing, delete that directory "
                f"(hdfs dfs -rm -r {checkpoint})."
            )
        return
    out = fs.create(path, False)
    try:
        out.write(bytearray(wanted.encode()))
    finally:
        out.close()
