"""What both Spark jobs share: the session, the trigger (and how a timed run stops), the checkpoint guard, and the
watchdog that stops a driver whose checkpoint lease is lost.

Shipped with each job in the jobs package zip (spark-submit --py-files, include/spark_app.py jobs_archive);
no Airflow imports, nothing of include/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from pyspark.sql import SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from jobs.hadoop_fs import HadoopFs, jvm_class

log = logging.getLogger("jobs")

AVAILABLE_NOW = "availableNow"
PROCESSING_TIME = "processingTime"
IDENTITY_FILE = "_query_identity.json"
# what a sink raises in a batch that starts after the run was asked to stop (not a failure: see run_query)
STOP_MARKER = "stop requested before this batch"


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


def add_lease_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lease",
        help="the checkpoint's lease file (hdfs://.../_lease.json), held by the task that submitted this job: the "
        "driver stops its query and exits when the lease is gone, someone else's, or not renewed for the ttl",
    )
    parser.add_argument("--lease-owner", help="the token the submitting task holds the lease with")
    parser.add_argument("--lease-ttl-seconds", type=float, default=30.0)


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
    lease = getattr(args, "lease", None)
    if bool(lease) != bool(getattr(args, "lease_owner", None)):
        parser.error("--lease and --lease-owner go together")
    if lease and args.lease_ttl_seconds <= 0:
        parser.error(f"--lease-ttl-seconds must be > 0, got {args.lease_ttl_seconds}")


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


def run_query(query: StreamingQuery, args: argparse.Namespace, stop: Callable[[], None] | None = None) -> None:
    """availableNow: wait until the query has drained its input. processingTime: run for --run-seconds, then
    stop between micro-batches: ``stop`` (the sink's hook) lets a batch in progress finish and commit and makes
    any later one stop before it writes; without it, the query is stopped once no trigger is active."""
    if args.trigger == AVAILABLE_NOW:
        with contextlib.suppress(Exception):  # reported below with the broker and checkpoint it concerns
            query.awaitTermination()
    else:
        deadline = time.monotonic() + args.run_seconds
        while time.monotonic() < deadline and query.isActive:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if stop is not None:
            stop()
        # a batch that has finished its sink still writes Spark's commit: wait for it (at most a minute)
        settle = time.monotonic() + 60
        while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < settle:
            time.sleep(0.1)
        query.stop()
    error = query.exception()
    if error is not None and not (stop is not None and STOP_MARKER in str(error)):
        raise SystemExit(
            f"streaming query {query.name} failed (Kafka broker(s) {args.bootstrap_servers}, "
            f"checkpoint {args.checkpoint}): {error}"
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
    path = f"{checkpoint.rstrip('/')}/{IDENTITY_FILE}"
    fs = HadoopFs(spark, path)
    wanted = json.dumps(identity, sort_keys=True)
    found = fs.read_text(path)
    if found is None:
        fs.create_new(path, wanted)
        return
    if json.loads(found) != identity:
        raise CheckpointMismatch(
            f"checkpoint {checkpoint} belongs to another query:\n  it was made for {found}\n"
            f"  this run is      {wanted}\n"
            "A checkpoint is bound to one query (its source, topic and sink): use this query's own checkpoint "
            "(the DAGs derive it from the topic and the directories; the params of this run name another)."
        )


def clear_unstarted_offsets(spark: SparkSession, query_checkpoint: str) -> None:
    """A job killed while Spark wrote the query's very first offsets entry leaves only its temporary file in
    ``offsets/``; Spark (4.1+) then refuses to start the query ("should be empty on batch 0"). No batch was
    planned, so nothing is lost by removing what is there."""
    offsets = f"{query_checkpoint.rstrip('/')}/offsets"
    fs = HadoopFs(spark, offsets)
    names = [name for name, _, _ in fs.list(offsets)]
    if names and not any(name.isdigit() for name in names):
        log.warning("removing %s from %s: left by a job killed before its first batch was planned", names, offsets)
        fs.delete(offsets, recursive=True)


LEASE_LOST_EXIT = 75  # the driver's exit code when it stopped because its lease was lost


class LeaseWatchdog:
    """Checks the checkpoint's lease (include/hdfs/lease.py, which this job may not import) every ttl/10 from a
    daemon thread. Once it is gone, held by another owner, or its heartbeat (the file's modification time) is
    older than the ttl (the task that renews it died: an orphan driver), it stops every active query, bounded,
    and halts the driver JVM, so that nothing is written after the ttl; the submitting side takes a stale lease
    over only at twice the ttl. A driver that cannot read the lease for a whole ttl stops too."""

    def __init__(self, spark: SparkSession, path: str, owner: str, ttl_s: float) -> None:
        self.spark, self.path, self.owner, self.ttl_s = spark, path, owner, ttl_s
        self.fs = HadoopFs(spark, path)
        self._thread = threading.Thread(target=self._run, name="lease-watchdog", daemon=True)

    @classmethod
    def start_for(cls, spark: SparkSession, args: argparse.Namespace) -> LeaseWatchdog | None:
        """The watchdog of ``--lease``, after a first check (a driver that starts without its lease exits at
        once); None when the job runs without a lease (standalone)."""
        if not getattr(args, "lease", None):
            return None
        watchdog = cls(spark, args.lease, args.lease_owner, args.lease_ttl_seconds)
        problem = watchdog.problem()
        if problem is not None:
            raise SystemExit(f"checkpoint lease {args.lease}: {problem} - not starting (another driver may own it)")
        log.info("holding checkpoint lease %s (owner %s, ttl %g s)", args.lease, args.lease_owner, watchdog.ttl_s)
        watchdog._thread.start()
        return watchdog

    def problem(self) -> str | None:
        """Why this driver may not go on writing; None while the lease is ours and fresh."""
        modified = self.fs.modification_time(self.path)
        text = self.fs.read_text(self.path) if modified is not None else None
        if modified is None or text is None:
            return "the lease is gone"
        try:
            holder = json.loads(text)
        except ValueError:
            holder = {}
        if holder.get("owner") != self.owner:
            return (
                f"the lease is held by another owner ({holder.get('owner')}: host {holder.get('host')} pid "
                f"{holder.get('pid')}, run {holder.get('run_id')})"
            )
        age = time.time() - modified
        if age > self.ttl_s:
            return f"the lease's heartbeat is {age:.1f} s old (ttl {self.ttl_s:g} s): the task that holds it is gone"
        return None

    def _run(self) -> None:
        last_ok = time.monotonic()
        while True:
            time.sleep(self.ttl_s / 10)
            try:
                problem = self.problem()
                last_ok = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - HDFS unreachable for a moment: judged by how long
                age = time.monotonic() - last_ok
                problem = f"the lease unreadable for {age:.1f} s ({exc})" if age > self.ttl_s else None
            if problem is not None:
                self._stop_driver(problem)
                return

    def _stop_driver(self, problem: str) -> None:
        log.error(
            "LEASE LOST: %s (lease %s, owner %s) - stopping the query and exiting with code %d, so that no other "
            "driver ever runs beside this one",
            problem,
            self.path,
            self.owner,
            LEASE_LOST_EXIT,
        )
        stopper = threading.Thread(target=self._stop_queries, daemon=True)
        stopper.start()
        stopper.join(timeout=self.ttl_s / 4)  # the taker waits until 2 * ttl: stop well before
        sys.stdout.flush()
        # halt, not exit: no shutdown hook may write more; the Python side dies with the JVM (exit_with_parent)
        jvm_class(self.spark, "java.lang.Runtime").getRuntime().halt(LEASE_LOST_EXIT)
        os._exit(LEASE_LOST_EXIT)

    def _stop_queries(self) -> None:
        for query in self.spark.streams.active:
            with contextlib.suppress(Exception):
                query.stop()
