"""From a DAG run's params to a checked plan: every path, topic, checkpoint and spark-submit argument.

Pure functions (no Airflow, no network): bad params fail here, in the first task, before anything starts.
The plan is a plain dict (it travels by XCom to the Spark and verification tasks).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from include.connections import HdfsSettings, KafkaSettings
from include.kafka_topics import CLUSTER_DEFAULT, dlq_topic, validate_topic_name
from include.spark_cds import driver_java_options

PROJECT_ROOT = Path(__file__).resolve().parents[1]
JOBS_DIR = PROJECT_ROOT / "jobs"
DEFAULT_PLAYERS_CSV = PROJECT_ROOT / "include" / "data" / "players.csv"
DEFAULT_TOPIC = "kafka-new-topic"
# The topic asset that schedules read_from_kafka (a DAG's schedule is fixed when the file is parsed, so it
# names the default broker and topic; write_to_kafka emits the asset of whatever topic it wrote).
DEFAULT_BOOTSTRAP = "localhost:9092"
TRIGGERS = ("availableNow", "processingTime")
STARTING_OFFSETS = ("earliest", "latest")
CHECKPOINT_ROOT = "checkpoints"  # under the HDFS user's home
KAFKA_CONN_ID = "kafka_default"

# Spark settings for a 2-core machine (see `make bench`); a cluster's spark_default may override master.
DRIVER_JAVA_OPTIONS = "-XX:+UseG1GC -XX:+ExitOnOutOfMemoryError"

SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.sql.streaming.stopGracefullyOnShutdown": "true",
    # + the class-data-sharing archive `make setup` builds (include/spark_cds.py): half the start-up CPU
    "spark.driver.extraJavaOptions": driver_java_options(DRIVER_JAVA_OPTIONS),
    # Closing an HDFS file races the DataNode's report of its last block; when the NameNode answers "not
    # complete yet", the client sleeps 400 ms before asking again (NameNode log: "is COMMITTED but not
    # COMPLETE"). Every micro-batch closes 3-4 files (offsets, data, sink log, commits), so that sleep was the
    # largest part of a small batch. Ask again after 20 ms, doubling; 12 tries still wait ~80 s in total
    # before giving up (the defaults, 400 ms x 5 tries, gave up after ~12 s).
    "spark.hadoop.dfs.client.block.write.locateFollowingBlock.initial.delay.ms": "20",
    "spark.hadoop.dfs.client.block.write.locateFollowingBlock.retries": "12",
    # Kafka credentials never reach Spark's configuration (the job reads them from a 0600 file and sets them as
    # source/sink options in memory); should one be set anyway, the UI, event log and plan strings redact it.
    # ("s[e]cret", "p[a]ssword": the same regex, but the words themselves in a --conf value make the Spark
    # provider mask the next word of the logged command.)
    "spark.redaction.regex": "(?i)s[e]cret|p[a]ssword|token|access[.]?key|sasl|jaas|credential",
    "spark.sql.redaction.options.regex": "(?i)url|s[e]cret|p[a]ssword|token|sasl|jaas|credential",
}


# How long a Spark job may run before Airflow kills it (and, with it, its whole process tree). Deployment
# configuration, like Airflow's own settings: read from the environment when the DAG file is parsed.
SPARK_JOB_TIMEOUT = timedelta(minutes=float(os.environ.get("SPARK_JOB_TIMEOUT_MINUTES", "30")))


def topic_asset_uri(bootstrap_servers: str, topic: str) -> str:
    return f"kafka://{bootstrap_servers.split(',')[0].strip()}/{topic}"


def spark_kafka_jars_dir() -> Path:
    return Path(os.environ.get("SPARK_KAFKA_JARS_DIR", PROJECT_ROOT / ".stack" / "jars" / "spark-kafka"))


def spark_kafka_jars() -> str:
    jars = sorted(str(p) for p in spark_kafka_jars_dir().glob("*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no Spark Kafka connector jars in {spark_kafka_jars_dir()}: run 'make setup' or set SPARK_KAFKA_JARS_DIR"
        )
    return ",".join(jars)


def resolve_hdfs_dir(path: str, user: str, what: str) -> str:
    """Absolute HDFS path; a relative one is under /user/<user>, as `hadoop fs` resolves it."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{what} is empty: give an HDFS directory such as testdir or /user/{user}/testdir")
    path = path.strip()
    if "://" in path:
        raise ValueError(f"{what} must be a path on the connection's HDFS, not a URI: {path!r}")
    if not path.startswith("/"):
        path = posixpath.join("/user", user, path)
    path = posixpath.normpath(path)
    if path == "/":
        raise ValueError(f"{what} can't be the HDFS root")
    if any(part.startswith((".", "_")) for part in path.split("/") if part):
        raise ValueError(f"{what} {path!r} has a part starting with '.' or '_': Spark treats those as hidden")
    return path


def checkpoint_for(user: str, job: str, topic: str, other: str) -> str:
    """One checkpoint per query, derived from its identity (job, topic, and its source or sink directory)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", other).strip("-")[-40:]
    digest = hashlib.sha256(f"{job}\0{topic}\0{other}".encode()).hexdigest()[:10]
    return posixpath.join("/user", user, CHECKPOINT_ROOT, job, topic, f"{slug}-{digest}")


def _positive_int(params: dict, name: str, minimum: int = 1) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _trigger(params: dict) -> dict[str, Any]:
    trigger = params.get("trigger", "availableNow")
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, got {trigger!r}")
    out: dict[str, Any] = {"trigger": trigger}
    interval = params.get("interval_seconds", 5)
    run = params.get("run_seconds", 60)
    for name, value, low in (("interval_seconds", interval, 0.1), ("run_seconds", run, 0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise ValueError(f"{name} must be a number >= {low}, got {value!r}")
    out["interval_seconds"] = float(interval)
    out["run_seconds"] = float(run)
    return out


def _trigger_args(trigger: dict[str, Any]) -> list[str]:
    args = ["--trigger", trigger["trigger"]]
    if trigger["trigger"] == "processingTime":
        args += ["--interval-seconds", str(trigger["interval_seconds"]), "--run-seconds", str(trigger["run_seconds"])]
    return args


def kafka_conn_ids(params: dict) -> dict[str, str]:
    """kafka_conn_id: what the Spark job connects as (e.g. kafka_secure_writer / kafka_secure_reader).
    kafka_admin_conn_id: what creates the topic, produces the read DAG's messages and verifies (default: the
    same connection; with the secure principals, kafka_secure_admin)."""
    conn_id = params.get("kafka_conn_id") or KAFKA_CONN_ID
    admin = params.get("kafka_admin_conn_id") or conn_id
    for name, value in (("kafka_conn_id", conn_id), ("kafka_admin_conn_id", admin)):
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", value):
            raise ValueError(f"{name} must be an Airflow connection id, got {value!r}")
    return {"kafka_conn_id": conn_id, "kafka_admin_conn_id": admin}


def spark_submit_fields(job: str) -> dict[str, str]:
    """What both SparkSubmitOperators need besides application_args."""
    return {
        "application": str(JOBS_DIR / f"{job}.py"),
        "py_files": str(JOBS_DIR / "spark_streaming.py"),
        "jars": spark_kafka_jars(),
    }


def plan_write(params: dict, kafka: KafkaSettings, hdfs: HdfsSettings) -> dict[str, Any]:
    """write_to_kafka: params -> plan. Raises ValueError with a clear message on a bad param."""
    topic = validate_topic_name(params.get("topic", DEFAULT_TOPIC))
    source = params.get("source_csv")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source_csv is empty: give the path of a local CSV file (name;age per line)")
    partitions = _positive_int(params, "partitions")
    # null: the cluster's default.replication.factor (ensure_topic looks it up and checks the topic has it)
    replication = (
        CLUSTER_DEFAULT if params.get("replication_factor") is None else _positive_int(params, "replication_factor")
    )
    trigger = _trigger(params)
    hdfs_dir = resolve_hdfs_dir(params.get("hdfs_dir", "testdir"), hdfs.user, "hdfs_dir")
    checkpoint = checkpoint_for(hdfs.user, "write_to_kafka", topic, hdfs_dir)
    dlq = dlq_topic(topic)
    job_args = [
        "--source-dir",
        f"{hdfs.hdfs_uri}{hdfs_dir}",
        "--topic",
        topic,
        "--dlq-topic",
        dlq,
        "--bootstrap-servers",
        kafka.bootstrap_servers,
        "--checkpoint",
        f"{hdfs.hdfs_uri}{checkpoint}",
        *_trigger_args(trigger),
    ]
    return {
        "topic": topic,
        "dlq_topic": dlq,
        "source_csv": str(Path(source).expanduser()),
        "hdfs_dir": hdfs_dir,
        "checkpoint": checkpoint,
        "partitions": partitions,
        "replication_factor": replication,
        "fail_on_duplicates": bool(params.get("fail_on_duplicates", False)),
        **trigger,
        "job_args": job_args,
        "hdfs_user": hdfs.user,
        "asset_uri": topic_asset_uri(kafka.bootstrap_servers, topic),
        **kafka_conn_ids(params),
        **spark_submit_fields("write_to_kafka"),
    }


def plan_read(params: dict, kafka: KafkaSettings, hdfs: HdfsSettings) -> dict[str, Any]:
    """read_from_kafka: params -> plan. Raises ValueError with a clear message on a bad param."""
    topic = validate_topic_name(params.get("topic", DEFAULT_TOPIC))
    messages = params.get("messages") or []
    if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
        raise ValueError(f"messages must be a list of strings, got {messages!r}")
    starting = params.get("starting_offsets", "earliest")
    if starting not in STARTING_OFFSETS:
        raise ValueError(f"starting_offsets must be one of {STARTING_OFFSETS}, got {starting!r}")
    trigger = _trigger(params)
    output_dir = resolve_hdfs_dir(params.get("output_dir") or f"{topic}-archive", hdfs.user, "output_dir")
    checkpoint = checkpoint_for(hdfs.user, "read_from_kafka", topic, output_dir)
    fail_on_data_loss = bool(params.get("fail_on_data_loss", False))
    job_args = [
        "--topic",
        topic,
        "--bootstrap-servers",
        kafka.bootstrap_servers,
        "--output-dir",
        f"{hdfs.hdfs_uri}{output_dir}",
        "--checkpoint",
        f"{hdfs.hdfs_uri}{checkpoint}",
        "--starting-offsets",
        starting,
        "--fail-on-data-loss",
        str(fail_on_data_loss).lower(),
        *_trigger_args(trigger),
    ]
    return {
        "topic": topic,
        "messages": messages,
        "output_dir": output_dir,
        "checkpoint": checkpoint,
        "starting_offsets": starting,
        "fail_on_data_loss": fail_on_data_loss,
        **trigger,
        "job_args": job_args,
        "hdfs_user": hdfs.user,
        **kafka_conn_ids(params),
        **spark_submit_fields("read_from_kafka"),
    }
