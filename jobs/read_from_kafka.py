"""Spark Structured Streaming: a Kafka topic to the console (as in the tutorial) and to a Parquet archive on HDFS.

One query reads the topic (``read_committed``: records of aborted transactions are never read); each
micro-batch is read from Kafka once and
- written to the archive under --output-dir: key and value as bytes, the headers, topic, partition, offset,
  timestamp and the topic's id, partitioned by the timestamp's UTC date (``date=YYYY-MM-DD``). The batch is
  staged beside the checkpoint and committed by the archive's own log, then moved in: the directory holds only
  committed files, and a batch Spark runs again after a crash is never written twice (jobs/archive.py);
- shown on the console as the tutorial's query did (``cast(key as string), cast(value as string)``): the first
  --console-rows rows of the batch, gathered while the batch is written (never the whole batch on the driver).

    spark-submit --jars <spark-sql-kafka jars> --py-files <zip of jobs/> jobs/read_from_kafka.py \
        --topic kafka-new-topic --bootstrap-servers localhost:9092 \
        --output-dir hdfs://localhost:8020/user/me/kafka-new-topic-archive --checkpoint hdfs://.../checkpoint
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from jobs import archive
from jobs.hadoop_fs import HadoopFs, jvm_class
from jobs.streaming import (
    AVAILABLE_NOW,
    STOP_MARKER,
    LeaseWatchdog,
    add_kafka_client_arg,
    add_lease_args,
    add_trigger_args,
    build_session,
    check_trigger_args,
    clear_unstarted_offsets,
    guard_checkpoint,
    kafka_client_options,
    run_query,
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
    # Only committed records; Kafka's Java client reads read_uncommitted unless told.
    "kafka.isolation.level": "read_committed",
    "includeHeaders": "true",
    # A backlog larger than this per Kafka partition is read by several Spark tasks in parallel (a 1-partition
    # topic would otherwise be read by one core); small micro-batches stay one task (and one Parquet file).
    # Each task pays a fixed cost (its consumer's seek and first fetch, one Parquet file and HDFS block), so a
    # split must be large enough to pay it back while a large backlog still uses every core
    # (docs/performance.md has the measurements). It also bounds an archive file's rows.
    "maxRecordsPerPartition": "500000",
    # Larger polls and fetches: with Kafka's defaults (500 records a poll, 1 MiB a partition fetch) a task
    # spends most of its time in poll round trips.
    "kafka.max.poll.records": "100000",
    "kafka.max.partition.fetch.bytes": str(16 * 1024 * 1024),
    "kafka.fetch.max.bytes": str(64 * 1024 * 1024),
}

# Row groups of at most this size: a reader (the verification) holds one row group of a file at a time.
PARQUET_BLOCK_BYTES = 32 * 1024 * 1024
PARQUET_OPTIONS = {
    "parquet.block.size": str(PARQUET_BLOCK_BYTES),
    # Offsets are unique and timestamps nearly so: a dictionary of them never pays (Parquet falls back to plain
    # encoding after its first page), but building it costs a hash of every value (a third of the staging time,
    # docs/performance.md). Key and value keep theirs: keys and values often repeat.
    "parquet.enable.dictionary#offset": "false",
    "parquet.enable.dictionary#timestamp": "false",
}

# The consumers' group ids start with this, so that a Kafka ACL can grant the reader exactly these groups
# (a copy of include/config.py SPARK_GROUP_ID_PREFIX, pinned by tests/unit: the job is shipped alone;
# Spark's default is spark-kafka-source-<uuid>).
GROUP_ID_PREFIX = "kafka-spark-airflow-spark"


class StopRequested(RuntimeError):
    """Raised by a micro-batch that starts after the run was asked to stop: it writes nothing and is not
    committed, so the next run reads its records."""


def to_archive_rows(kafka_rows: DataFrame, topic_id: str = "") -> DataFrame:
    """Kafka source rows -> archive rows (``archive_columns``)."""
    return kafka_rows.select(*archive_columns(topic_id))


def archive_columns(topic_id: str = "") -> list[Column]:
    """An archive row's columns, of a Kafka source row: the record as Kafka holds it (key and value as bytes,
    headers), where it came from, and its UTC date (the archive's partition).

    ``topic_id`` (Kafka's id of the topic's current incarnation) tells apart records of a topic that was
    deleted and recreated, whose (partition, offset) pairs start again from 0.
    """
    return [
        F.col("key"),
        F.col("value"),
        F.col("headers"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp"),
        F.col("timestampType"),
        F.lit(topic_id).alias("topic_id"),
        utc_date().alias(archive.DATE_COLUMN),
    ]


def utc_date():
    """The archive's partition value: the Kafka timestamp's date (the session's time zone is UTC)."""
    return F.to_date(F.col("timestamp"))


def console_columns() -> list[Column]:
    """The tutorial's query: key and value cast to string."""
    return [F.col("key").cast("string").alias("key"), F.col("value").cast("string").alias("value")]


CONSOLE_SCHEMA = "key string, value string"

# A row's position in its batch (Spark's partition index in the upper bits, the row's index in its task below
# them: monotonically_increasing_id), while the batch is written; never stored.
POSITION = "_position"
ROW_IN_TASK_BITS = 33


def console_sample(rows: int) -> Column:
    """An aggregate over a batch that has a POSITION column: the console's view of the first ``rows`` rows of
    every Spark task, with their positions. The first ``rows`` of these by position are the batch's first rows,
    as ``batch.show(rows)`` would print them; at most ``rows`` per task reach the driver."""
    row_in_task = F.col(POSITION).bitwiseAND(F.lit((1 << ROW_IN_TASK_BITS) - 1))
    return F.collect_list(F.when(row_in_task < rows, F.struct(F.col(POSITION), *console_columns())))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--output-dir", required=True, help="Parquet archive directory (hdfs://...)")
    parser.add_argument("--topic-id", default="", help="Kafka's id of the topic, recorded with every row")
    parser.add_argument("--starting-offsets", choices=["earliest", "latest"], default="earliest")
    parser.add_argument("--fail-on-data-loss", choices=["true", "false"], default="false")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=0, help="0 = no limit")
    parser.add_argument("--console-rows", type=int, default=20, help="rows shown per batch on the console (0: none)")
    add_kafka_client_arg(parser)
    add_trigger_args(parser)
    add_lease_args(parser)
    args = parser.parse_args(argv)
    check_trigger_args(parser, args)
    if args.console_rows < 0:
        parser.error(f"--console-rows must be >= 0, got {args.console_rows}")
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


class ConsoleTable:
    """Spark's own table (``showString``, as the console sink prints it) of (key, value) string pairs, from a
    local relation built in the driver's JVM: no Spark job. The JVM classes are looked up once."""

    def __init__(self, spark: SparkSession):
        self._session = spark._jsparkSession
        self._new_array = spark.sparkContext._gateway.new_array
        self._object = jvm_class(spark, "java.lang.Object")
        self._array_list = jvm_class(spark, "java.util.ArrayList")
        self._row_factory = jvm_class(spark, "org.apache.spark.sql.RowFactory")
        self._schema = jvm_class(spark, "org.apache.spark.sql.types.StructType").fromDDL(CONSOLE_SCHEMA)

    def render(self, sample: list[tuple], rows: int) -> str:
        java_rows = self._array_list()
        for key, value in sample:
            cells = self._new_array(self._object, 2)
            cells[0], cells[1] = key, value
            java_rows.add(self._row_factory.create(cells))
        return self._session.createDataFrame(java_rows, self._schema).showString(rows, 0, False)


class ArchiveWriter:
    """foreachBatch: one micro-batch -> staged Parquet -> commit entry -> files renamed into the archive.

    Spark runs a batch again (same id, same offsets) when the job died before Spark committed it: a batch whose
    commit entry exists is only rolled forward (its remaining renames), never written again.
    """

    def __init__(self, spark: SparkSession, args: argparse.Namespace, archive_id: str):
        self.spark, self.args, self.archive_id = spark, args, archive_id
        self.output_dir = args.output_dir.rstrip("/")
        self.log_dir = f"{self.output_dir}/{archive.LOG_DIR}"
        self.staging = f"{args.checkpoint.rstrip('/')}/{archive.STAGING_DIR}"
        self.fs = HadoopFs(spark, self.output_dir)
        self._console = ConsoleTable(spark)
        # The batch's columns and the write's metrics, built once: each function of pyspark.sql.functions is a
        # round trip to the JVM that also looks its class up by a short name (docs/performance.md, Latency).
        self._columns = archive_columns(args.topic_id)
        self._metrics = [F.min(archive.DATE_COLUMN).alias("first"), F.max(archive.DATE_COLUMN).alias("last")]
        if args.console_rows:
            self._columns.append(F.monotonically_increasing_id().alias(POSITION))
            # one row more than shown: Spark's table then says "only showing top N rows" when the batch has more
            self._metrics.append(console_sample(args.console_rows + 1).alias("sample"))
        self._lock = threading.Lock()
        self._stop = False
        self._batches = 0  # batches this run has handed to the sink

    def request_stop(self) -> None:
        """Let the batch in progress finish and commit; every later batch stops before it writes anything.

        The run's first batch is in progress from its start: on a loaded machine Spark may still be planning it
        (fetching offsets) when the stop comes, before it reaches the sink; it still runs, or a short run would
        archive nothing at all."""
        self._stop = True
        with self._lock:
            pass

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        with self._lock:
            if self._stop and self._batches:
                raise StopRequested(STOP_MARKER)
            self._batches += 1
            entry_path = f"{self.log_dir}/{archive.entry_name(batch_id)}"
            found = self.fs.read_text(entry_path)
            if found is not None:
                log.info("batch %d was committed before the job stopped: finishing its renames", batch_id)
                self._roll_forward(json.loads(found))
                return
            staged_dir = f"{self.staging}/{batch_id}"
            started = time.monotonic()
            files, sample = self._stage(batch, staged_dir, batch_id)
            staged = time.monotonic()
            self._show(batch_id, sample)
            shown = time.monotonic()
            self.fs.mkdirs(self.log_dir)
            self.fs.write_atomic(entry_path, archive.new_entry(batch_id, self.archive_id, files))  # the commit
            self._roll_forward({"batch": batch_id, "files": files})
            self._prune(batch_id)
            log.info(
                "batch %d archived in %d file(s): staged in %.2fs, console %.2fs, committed and renamed %.2fs",
                batch_id,
                len(files),
                staged - started,
                shown - staged,
                time.monotonic() - shown,
            )

    def _stage(self, batch: DataFrame, staged_dir: str, batch_id: int) -> tuple[list[dict], list]:
        """Write the batch's archive rows under ``staged_dir``; the files to commit, each with its date folder,
        and the console's sample of the batch.

        Each task writes the rows it read, in offset order, into one file, and the write observes the batch's
        first and last UTC date and the console's sample (``DataFrame.observe``: no second pass, no second
        Spark job). A batch of one date (nearly every batch of an hourly run) is then staged:
        its files go to that date's folder whole. Only a batch that spans midnight UTC is split by date,
        from its staged files (Kafka is read once): partitioning every batch by date while writing costs a
        third more (docs/performance.md)."""
        observed = Observation()
        whole = f"{staged_dir}/{archive.WHOLE_DIR}"
        (
            batch.select(*self._columns)
            .observe(observed, *self._metrics)
            .drop(archive.DATE_COLUMN, POSITION)
            .write.mode("overwrite")
            .options(**PARQUET_OPTIONS)
            .parquet(whole)
        )
        found = observed.get
        first, last = found["first"], found["last"]
        sample = [
            (row["key"], row["value"])
            for row in sorted(found.get("sample") or [], key=lambda row: row[POSITION])[: self.args.console_rows + 1]
        ]
        if first is None:  # no rows (Spark leaves a file with the schema only)
            return [], []
        if first == last:
            staged = [
                (f"{archive.DATE_COLUMN}={first.isoformat()}", f"{whole}/{name}", size)
                for name, size in self._parquet_files(whole)
            ]
        else:
            split = f"{staged_dir}/{archive.SPLIT_DIR}"
            (
                self.spark.read.parquet(whole)
                .withColumn(archive.DATE_COLUMN, utc_date())
                .sortWithinPartitions(archive.DATE_COLUMN, "partition", "offset")
                .write.mode("overwrite")
                .options(**PARQUET_OPTIONS)
                .partitionBy(archive.DATE_COLUMN)
                .parquet(split)
            )
            staged = [
                (date_dir, f"{split}/{date_dir}/{name}", size)
                for date_dir, is_dir, _ in self.fs.list(split)
                if is_dir and date_dir.startswith(f"{archive.DATE_COLUMN}=")
                for name, size in self._parquet_files(f"{split}/{date_dir}")
            ]
        files = [
            {"path": f"{date_dir}/{archive.final_name(batch_id, i)}", "staged": path, "bytes": size}
            for i, (date_dir, path, size) in enumerate(sorted(staged))
        ]
        return files, sample

    def _parquet_files(self, directory: str) -> list[tuple[str, int]]:
        """The Parquet files Spark wrote in ``directory``, with their sizes."""
        return [
            (name, size) for name, is_dir, size in self.fs.list(directory) if not is_dir and name.endswith(".parquet")
        ]

    def _roll_forward(self, entry: dict) -> None:
        for item in entry["files"]:
            final = f"{self.output_dir}/{item['path']}"
            if self.fs.exists(final):
                continue
            if not self.fs.exists(item["staged"]):
                raise RuntimeError(
                    f"batch {entry['batch']} of the archive {self.output_dir}: {item['path']} is in its commit entry "
                    f"but neither in the archive nor staged at {item['staged']}"
                )
            self.fs.mkdirs(final.rsplit("/", 1)[0])
            self.fs.rename(item["staged"], final)
        self.fs.delete(f"{self.staging}/{entry['batch']}", recursive=True)

    def _show(self, batch_id: int, sample: list[tuple]) -> None:
        """The console's view of the batch, printed as Spark's console sink prints it (``ConsoleTable``), from the
        batch's first rows gathered while the batch was written."""
        if self.args.console_rows == 0:
            return
        print("-------------------------------------------")
        print(f"Batch: {batch_id}")
        print("-------------------------------------------")
        if sample:
            print(self._console.render(sample, self.args.console_rows))
        else:
            print("(no records)\n")

    def _prune(self, batch_id: int) -> None:
        """Keep the last LOG_RETAINED commit entries (by name, without listing the log)."""
        if batch_id % 100 == 0 and batch_id >= archive.LOG_RETAINED:
            for old in range(max(0, batch_id - archive.LOG_RETAINED - 100), batch_id - archive.LOG_RETAINED + 1):
                self.fs.delete(f"{self.log_dir}/{archive.entry_name(old)}")


def bind_archive(spark: SparkSession, args: argparse.Namespace) -> str:
    """The archive's id, after checking (or, on the first run, recording) that this query writes it."""
    output_dir, checkpoint = args.output_dir.rstrip("/"), args.checkpoint.rstrip("/")
    fs = HadoopFs(spark, output_dir)
    in_archive_path, in_checkpoint_path = f"{output_dir}/{archive.BINDING_FILE}", f"{checkpoint}/{archive.BINDING_FILE}"

    def load(path: str) -> dict | None:
        text = fs.read_text(path)
        return None if text is None else json.loads(text)

    in_archive, in_checkpoint = load(in_archive_path), load(in_checkpoint_path)
    problem = archive.binding_problem(
        in_archive,
        in_checkpoint,
        args.topic,
        checkpoint,
        output_dir,
        archive_has_other_files=in_archive is None and bool(fs.list(output_dir)),
        checkpoint_has_batches=bool(fs.list(f"{checkpoint}/archive/commits")),
        archive_has_batches=bool(fs.list(f"{output_dir}/{archive.LOG_DIR}")),
    )
    if problem:
        raise SystemExit(problem)
    if in_archive is not None:
        if in_checkpoint is None:  # the first run stopped between the two files
            fs.create_new(in_checkpoint_path, json.dumps(in_archive, sort_keys=True))
        return in_archive["archive_id"]
    binding = archive.new_binding(args.topic, checkpoint, output_dir)
    fs.mkdirs(output_dir)
    if not fs.create_new(in_archive_path, json.dumps(binding, sort_keys=True)):
        raise SystemExit(f"another query bound the archive {output_dir} at the same time: run again to see which")
    fs.create_new(in_checkpoint_path, json.dumps(binding, sort_keys=True))
    return binding["archive_id"]


def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    spark = build_session(f"read_from_kafka[{args.topic}]")
    LeaseWatchdog.start_for(spark, args)  # before anything is written to the checkpoint
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # the archive's dates are UTC dates
    checkpoint = args.checkpoint.rstrip("/")
    guard_checkpoint(spark, checkpoint, {"job": "read_from_kafka", "topic": args.topic, "output_dir": args.output_dir})
    writer = ArchiveWriter(spark, args, bind_archive(spark, args))
    query_checkpoint = f"{checkpoint}/archive"
    clear_unstarted_offsets(spark, query_checkpoint)
    query = with_trigger(
        kafka_stream(spark, args)
        .writeStream.queryName(f"archive:{args.topic}")
        .foreachBatch(writer)
        .option("checkpointLocation", query_checkpoint),
        args,
    ).start()
    run_query(query, args, stop=None if args.trigger == AVAILABLE_NOW else writer.request_stop)
    spark.stop()


if __name__ == "__main__":
    main()
