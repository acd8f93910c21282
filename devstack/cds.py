"""A class-data-sharing (AppCDS) archive for the Spark driver JVM: spark-submit starts with less CPU.

A Spark driver loads and verifies many thousands of classes before the first line of a job runs; on a small
machine that is most of spark-submit's start (docs/performance.md has the figures). Java 17 can dump the
classes one run loaded into an archive (``-XX:ArchiveClassesAtExit``) that later JVMs map instead of parsing
and verifying the jars again (``-XX:SharedArchiveFile``). ``make setup`` builds the archive once, by running
a short training app through spark-submit; every job's driver then gets ``-XX:SharedArchiveFile`` through the
local stack's environment (the Makefile's ``SPARK_SUBMIT_OPTS``, from ``java_option()``): the DAGs' own settings
(include/config.py SPARK_CONF) never name it. The cluster profile's drivers go without: its ``SPARK_CONF_DIR``
(executor sizes) sits first on the driver's classpath, which a dynamic archive does not allow.

The archive is valid only for the JVM and the classpath it was dumped with, so its file name carries a
fingerprint of both (the java binary, pyspark's version and jars). A JVM given an archive that does not match
runs normally, without sharing; a missing archive simply means no flag.

Two trainings, recorded next to the archive (``<archive>.json``):
- ``basic`` (``make setup``, no services needed): a session, the Kafka source planned, Parquet and a streaming
  query on the local file system;
- ``stack`` (``make up``, once the services answer): the two real jobs, planned and prepared by the
  pipeline's own steps (include/pipeline), on a small players file: HDFS -> write job -> Kafka -> read job ->
  Parquet on HDFS. This also archives the Kafka producer and consumer and the HDFS client, classes the basic
  training never loads, which every job otherwise reads and verifies from jars at start.

    python -m devstack cds              # build the archive if this machine has none that matches
    python -m devstack cds --on-stack   # ... trained on the running stack (kept if it already is)
    python -m devstack cds --force      # rebuild it
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ARCHIVE_DIR = PROJECT_ROOT / ".stack" / "cds"
BASIC, STACK = "basic", "stack"
TRAINING_TIMEOUT_S = 900


def _spark_home() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise RuntimeError("pyspark is not importable: run 'make setup'")
    return Path(spec.origin).parent


def _java() -> Path:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(shutil.which("java") or "java"))
    return found.resolve()


def fingerprint() -> str:
    """What the archive depends on: the java binary (path, size, mtime) and Spark's jars (names, sizes, mtimes).

    The JVM refuses a dynamic archive when any jar of the classpath has another size or modification time than
    when it was dumped: a reinstall of the same pyspark (same names and sizes, new mtimes) needs a new one."""
    digest = hashlib.sha256()
    java = _java()
    if java.exists():
        stat = java.stat()
        digest.update(f"{java}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    for jar in sorted((_spark_home() / "jars").glob("*.jar")):
        stat = jar.stat()
        digest.update(f"{jar.name}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    return digest.hexdigest()[:16]


def archive_path() -> Path:
    return ARCHIVE_DIR / f"spark-driver-{fingerprint()}.jsa"


def java_option() -> str:
    """The driver JVM's flag for this machine's matching archive; empty when there is none. The Makefile puts
    it in SPARK_SUBMIT_OPTS (the driver is the spark-submit JVM in client mode), not in SPARK_CONF_DIR: Spark
    puts that folder first on the driver's classpath, and a dynamic archive is refused for a classpath other
    than the one it was dumped with (and can't be dumped with a non-empty folder on it)."""
    try:
        archive = archive_path()
    except (OSError, RuntimeError):
        return ""
    return f"-XX:SharedArchiveFile={archive}" if archive.is_file() else ""


def training_of(archive: Path) -> str | None:
    """How ``archive`` was trained (BASIC or STACK), from its record; None when there is no record."""
    try:
        return json.loads(archive.with_suffix(".json").read_text()).get("training")
    except (OSError, ValueError):
        return None


def is_up_to_date(archive: Path, on_stack: bool) -> bool:
    """An archive exists for this JVM and Spark, trained as asked (a stack-trained one serves both asks)."""
    return archive.is_file() and (not on_stack or training_of(archive) == STACK)


def build(archive: Path, base_options: str, on_stack: bool = False) -> Path | None:
    """Dump ``archive`` by running a training app through spark-submit (with the jobs' connector and jobs
    zip, include/spark_app.py): the basic one, or with ``on_stack`` the real jobs on the running stack; returns
    the archive's path (or None when there is none). Whether one is needed is the caller's question
    (is_up_to_date)."""
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as work:
        if not on_stack:
            return _dump(archive, base_options, ["--train", work], BASIC, {})
        try:
            with _stack_training(Path(work)) as (spec, env):
                return _dump(archive, base_options, ["--train-on-stack", json.dumps(spec)], STACK, env)
        except Exception as exc:  # noqa: BLE001 - the archive is an optimisation: keep what there is
            print(f"cds: could not train on the stack ({type(exc).__name__}: {exc}); keeping {archive.name}")
            return archive if archive.is_file() else None


def _dump(archive: Path, base_options: str, app_args: list[str], training: str, env_extra: dict) -> Path | None:
    from include.config import SPARK_CONF
    from include.spark_app import jobs_archive, kafka_connector

    ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    spark_submit = Path(sys.executable).parent / "spark-submit"
    # the jobs' own settings, but a fixed 2-thread master and no archive in use while one is dumped (the
    # environment's SPARK_SUBMIT_OPTS, which maps the current one, is dropped below)
    conf = {k: v for k, v in SPARK_CONF.items() if k != "spark.driver.extraJavaOptions"}
    conf["spark.driver.extraJavaOptions"] = f"{base_options} -XX:ArchiveClassesAtExit={partial} -Xlog:cds=off"
    command = [str(spark_submit), "--master", "local[2]", "--py-files", str(jobs_archive())]
    for option, value in kafka_connector().items():
        command += [f"--{option}", value]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command += [str(Path(__file__).resolve()), *app_args]
    venv_bin = str(Path(sys.executable).parent)
    # no archive in use while one is dumped, and no conf folder on the classpath (the dump refuses one)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("SPARK_SUBMIT_OPTS", "SPARK_CONF_DIR")},
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        **env_extra,
    }
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TRAINING_TIMEOUT_S)
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        print(f"cds: could not build the archive (jobs run without it):\n{(proc.stdout + proc.stderr)[-2000:]}")
        return archive if archive.is_file() else None
    for old in ARCHIVE_DIR.glob("spark-driver-*"):
        if old not in (partial, archive):
            old.unlink()
    # a rename over the old archive: a driver that maps it now keeps its copy
    partial.rename(archive)
    archive.with_suffix(".json").write_text(json.dumps({"training": training}) + "\n")
    print(f"cds: built {archive} ({archive.stat().st_size / 1e6:.0f} MB, {training} training)")
    return archive


@contextlib.contextmanager
def _stack_training(work: Path) -> Iterator[tuple[dict, dict]]:
    """A small players file on HDFS, a topic and its dead-letter topic, and the two jobs' arguments, all made
    by the pipeline's own steps as the DAGs' tasks make them (connections from Airflow's environment);
    everything is deleted afterwards."""
    from confluent_kafka.admin import AdminClient

    from include.connections import AIRFLOW_CONNECTIONS
    from include.hdfs import client
    from include.pipeline import read, write
    from include.policy import allowing_source_dirs

    os.environ.update(allowing_source_dirs(str(work)))  # the training CSV is written there
    name = f"spark-cds-training-{uuid.uuid4().hex[:8]}"
    csv = work / "players.csv"
    # valid rows (some not ASCII), a header, a blank line and bad rows: both of the write job's outputs
    rows = [f"Player {i} Ça Ωmega 選手;{i % 100}" for i in range(2000)]
    csv.write_text("name;age\n" + "\n".join(rows) + "\n\nno age\nBo;200\n", encoding="utf-8")
    write_plan = write.plan({"source_csv": str(csv), "topic": name, "hdfs_dir": f"{name}/landing", "partitions": 1})
    read_plan = read.plan({"topic": name, "output_dir": f"{name}/archive"})
    kafka = AIRFLOW_CONNECTIONS.kafka(write_plan.kafka_admin_conn_id)
    hdfs = client.client(AIRFLOW_CONNECTIONS.hdfs())
    home = posixpath.dirname(write_plan.hdfs_dir)  # /user/<user>/<name>: landing and archive are under it
    try:
        write.create_topics(write_plan)
        read.create_topics(read_plan)
        write.ingest(write_plan)
        recorded = read.record_offsets(read_plan)
        yield (
            {"write": write_plan.spark_args, "read": recorded.spark_args},
            {"HADOOP_USER_NAME": write_plan.hdfs_user},
        )
    finally:
        # the client is kept until its futures are done: a destroyed handle fails them all
        admin = AdminClient(kafka.config)
        topics = [write_plan.topic, write_plan.dlq_topic]
        for topic, future in admin.delete_topics(topics, operation_timeout=30).items():
            try:
                future.result(timeout=30)
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                print(f"cds: could not delete the training topic {topic}: {exc}")
        for path in (home, posixpath.dirname(write_plan.checkpoint), posixpath.dirname(read_plan.checkpoint)):
            try:
                hdfs.delete(path, recursive=True)
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                print(f"cds: could not delete hdfs:{path}: {exc}")


def train_on_stack(spec: dict) -> None:
    """The real jobs, one after the other in this driver: the write job, then the read job (console too).
    The jobs package comes from --py-files, as for the DAGs' jobs."""
    from jobs import read_from_kafka, write_to_kafka

    write_to_kafka.main(spec["write"])
    read_from_kafka.main(spec["read"])


def train(work: str) -> None:
    """What a job's driver does, in small: a session, the Kafka source planned, CSV-like parsing, Parquet
    written and read, and a streaming query (file source, availableNow, Parquet sink with a checkpoint)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.appName("spark-cds-training").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.read.format("kafka").option("kafka.bootstrap.servers", "localhost:1").option("subscribe", "t").load()
    lines = spark.range(2000).select(F.format_string("name %d;%d", "id", F.col("id") % 90).alias("line"))
    parts = F.split("line", ";")
    rows = lines.select(F.get(parts, 0).alias("name"), F.get(parts, 1).try_cast("int").alias("age"))
    rows.write.mode("overwrite").parquet(f"{work}/batch")
    spark.read.parquet(f"{work}/batch").groupBy("age").count().collect()
    query = (
        spark.readStream.schema(rows.schema)
        .parquet(f"{work}/batch")
        .select(F.col("name").cast("binary").alias("key"), F.col("age").cast("string").alias("value"))
        .writeStream.format("parquet")
        .option("path", f"{work}/stream")
        .option("checkpointLocation", f"{work}/checkpoint")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even if an archive matches")
    parser.add_argument("--on-stack", action="store_true", help="train with the real jobs on the running stack")
    parser.add_argument("--java-option", action="store_true", help="print the driver's JVM flag for the archive")
    parser.add_argument("--train", metavar="WORK_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--train-on-stack", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.java_option:
        print(java_option())
        return 0
    if args.train:
        train(args.train)
        return 0
    if args.train_on_stack:
        train_on_stack(json.loads(args.train_on_stack))
        return 0
    archive = archive_path()
    if is_up_to_date(archive, args.on_stack) and not args.force:  # no Spark or Airflow import needed
        print(f"cds: up to date ({archive}, {training_of(archive) or BASIC} training)")
        return 0
    from include.config import DRIVER_JAVA_OPTIONS

    build(archive, DRIVER_JAVA_OPTIONS, on_stack=args.on_stack)
    return 0  # jobs run without the archive too: never fail setup for it


if __name__ == "__main__":
    sys.exit(main())
