"""From a DAG run's params to a checked plan: every path, topic, checkpoint and Spark job argument.

Pure functions (no Airflow, no network): bad params fail here, in the first task, before anything starts.
What params may reach (local source folders, HDFS roots, Kafka connections) is the deployment's policy
(include/policy.py), given or, by default, loaded from Airflow's configuration.
A plan is a frozen dataclass; it travels by XCom as ``to_dict()`` (which adds ``spark_args``, the job's
arguments, for the submit task's template) and comes back with ``from_dict``.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any, ClassVar, Self

from include.config import (
    CHECKPOINT_ROOT,
    DEFAULT_TOPIC,
    KAFKA_CONN_ID,
    SPARK_JOB_TIMEOUT,
    SPARK_START_MARGIN,
    STARTING_OFFSETS,
    TRIGGERS,
)
from include.connections import HdfsSettings, KafkaSettings
from include.kafka.admin import CLUSTER_DEFAULT, dlq_topic, validate_topic_name
from include.kafka.security import java_client_options
from include.policy import Policy, check_conn_ids, check_hdfs_dir, check_source_csv, load_policy


def topic_asset_uri(bootstrap_servers: str, topic: str) -> str:
    """The asset of ``topic`` on the cluster a connection's ``bootstrap.servers`` names: ``kafka://<server>/<topic>``
    (the Kafka provider's URI form), the server being the first of the list once its entries are trimmed,
    lower-cased and sorted, so that two connections listing the same brokers in another order name one asset."""
    servers = sorted(s.strip().lower() for s in bootstrap_servers.split(",") if s.strip())
    if not servers:
        raise ValueError(f"no bootstrap server in {bootstrap_servers!r}: a Kafka connection's extra needs one")
    return f"kafka://{servers[0]}/{topic}"


def resolve_hdfs_dir(path: str, user: str, what: str) -> str:
    """Absolute HDFS path; a relative one is under /user/<user>, as `hadoop fs` resolves it."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{what} is empty: give an HDFS directory such as testdir or /user/{user}/testdir")
    path = path.strip()
    if "://" in path:
        raise ValueError(f"{what} must be a path on the connection's HDFS, not a URI: {path!r}")
    if "#LATEST" in path:
        raise ValueError(f"{what} {path!r} holds '#LATEST', a marker the WebHDFS client expands: rename the folder")
    if ".." in path.split("/"):
        raise ValueError(f"{what} {path!r} has a '..' part: give the directory's own path")
    if not path.startswith("/"):
        path = posixpath.join("/user", user, path)
    path = posixpath.normpath(path)
    if path == "/":
        raise ValueError(f"{what} can't be the HDFS root")
    if any(part.startswith((".", "_")) for part in path.split("/") if part):
        raise ValueError(f"{what} {path!r} has a part starting with '.' or '_': Spark treats those as hidden")
    return path


HADOOP_GLOB_CHARS = re.compile(r"([{}\[\]*?\\])")


def hadoop_glob_escape(path: str) -> str:
    """A path as a Hadoop glob that matches only itself: Spark's file source globs its input path, so that a
    folder named ``a[1]`` would otherwise match ``a1``. Each of ``{}[]*?\\`` gets a backslash."""
    return HADOOP_GLOB_CHARS.sub(r"\\\1", path)


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


def _trigger(params: dict, job_timeout: timedelta = SPARK_JOB_TIMEOUT) -> dict[str, Any]:
    """trigger, interval_seconds, run_seconds. With processingTime the query must run long enough for one batch
    (run_seconds >= interval_seconds), and stop before the Spark task's execution_timeout kills it: run_seconds
    fits ``job_timeout`` less SPARK_START_MARGIN (spark-submit's start, the last batch)."""
    trigger = params.get("trigger", "availableNow")
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, got {trigger!r}")
    interval = params.get("interval_seconds", 5)
    run = params.get("run_seconds", 60)
    for name, value, low in (("interval_seconds", interval, 0.1), ("run_seconds", run, 0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise ValueError(f"{name} must be a number >= {low}, got {value!r}")
    if trigger == "processingTime":
        if run < interval:
            raise ValueError(
                f"run_seconds {run} can't cover one batch of interval_seconds {interval}: the query would stop "
                "before its first batch. Give run_seconds >= interval_seconds"
            )
        limit = (job_timeout - SPARK_START_MARGIN).total_seconds()
        if run > limit:
            raise ValueError(
                f"run_seconds {run} does not fit the Spark task's execution_timeout ({job_timeout}, less "
                f"{SPARK_START_MARGIN} for Spark to start and finish its batch): at most {limit:.0f}; a deployer "
                "sets the timeout with SPARK_JOB_TIMEOUT_MINUTES"
            )
    return {"trigger": trigger, "interval_seconds": float(interval), "run_seconds": float(run)}


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


@dataclass(frozen=True)
class _Plan:
    """What both plans hold (the topic, the query's checkpoint and trigger, where the services are, which
    connections), and their XCom round trip: ``to_dict`` (with ``spark_args``) and ``from_dict``."""

    job: ClassVar[str]

    topic: str
    checkpoint: str
    trigger: str
    interval_seconds: float
    run_seconds: float
    bootstrap_servers: str
    hdfs_uri: str
    hdfs_user: str
    kafka_conn_id: str
    kafka_admin_conn_id: str

    @property
    def spark_args(self) -> list[str]:
        raise NotImplementedError

    def _trigger_args(self) -> list[str]:
        args = ["--trigger", self.trigger]
        if self.trigger == "processingTime":
            args += ["--interval-seconds", str(self.interval_seconds), "--run-seconds", str(self.run_seconds)]
        return args

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spark_args": self.spark_args}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    @classmethod
    def of(cls, plan: Self | dict[str, Any]) -> Self:
        """A plan as the steps take it: the dataclass, or its dict (an XCom value)."""
        return plan if isinstance(plan, cls) else cls.from_dict(plan)


@dataclass(frozen=True)
class WritePlan(_Plan):
    """write_to_kafka: the CSV, where it lands on HDFS, the topics, the query's checkpoint and trigger."""

    job: ClassVar[str] = "write_to_kafka"

    dlq_topic: str
    source_csv: str
    hdfs_dir: str
    partitions: int
    replication_factor: int | str  # a number, or kafka.admin.CLUSTER_DEFAULT
    fail_on_duplicates: bool
    asset_uri: str

    @property
    def spark_args(self) -> list[str]:
        """jobs/write_to_kafka.py's arguments."""
        return [
            # the job reads it as a glob: escaped, it names only this folder (a '[' in it would be a character class)
            *("--source-dir", f"{self.hdfs_uri}{hadoop_glob_escape(self.hdfs_dir)}"),
            *("--topic", self.topic, "--dlq-topic", self.dlq_topic),
            *("--bootstrap-servers", self.bootstrap_servers),
            *("--checkpoint", f"{self.hdfs_uri}{self.checkpoint}"),
            *self._trigger_args(),
        ]


@dataclass(frozen=True)
class ReadPlan(_Plan):
    """read_from_kafka: the topic, the messages to produce first, the archive and the query's checkpoint."""

    job: ClassVar[str] = "read_from_kafka"

    messages: list[str]
    output_dir: str
    starting_offsets: str
    fail_on_data_loss: bool

    @property
    def archive_checkpoint(self) -> str:
        """The archive query's own checkpoint (the console query has its own next to it)."""
        return f"{self.checkpoint}/archive"

    @property
    def spark_args(self) -> list[str]:
        """jobs/read_from_kafka.py's arguments, but for ``--topic-id``: that is recorded just before the job
        (pipeline.read.record_offsets)."""
        return [
            *("--topic", self.topic, "--bootstrap-servers", self.bootstrap_servers),
            *("--output-dir", f"{self.hdfs_uri}{self.output_dir}"),
            *("--checkpoint", f"{self.hdfs_uri}{self.checkpoint}"),
            *("--starting-offsets", self.starting_offsets),
            *("--fail-on-data-loss", str(self.fail_on_data_loss).lower()),
            *self._trigger_args(),
        ]


def plan_write(params: dict, kafka: KafkaSettings, hdfs: HdfsSettings, policy: Policy | None = None) -> WritePlan:
    """write_to_kafka: params -> plan. Raises ValueError with a clear message on a bad param, and
    policy.PolicyViolation on one that reaches beyond ``policy`` (default: Airflow's configuration)."""
    policy = load_policy() if policy is None else policy
    topic = validate_topic_name(params.get("topic", DEFAULT_TOPIC))
    conn_ids = check_conn_ids(WritePlan.job, kafka_conn_ids(params), policy)
    # the job's connection, as Spark's Java client will get it: a setting it can't take fails here, by name
    java_client_options(kafka.config)
    source = check_source_csv(params.get("source_csv"), policy)
    partitions = _positive_int(params, "partitions")
    # null: the cluster's default.replication.factor (ensure_topic looks it up and checks the topic has it)
    replication = (
        CLUSTER_DEFAULT if params.get("replication_factor") is None else _positive_int(params, "replication_factor")
    )
    trigger = _trigger(params)
    hdfs_dir = check_hdfs_dir(
        resolve_hdfs_dir(params.get("hdfs_dir", "testdir"), hdfs.user, "hdfs_dir"), hdfs.user, "hdfs_dir", policy
    )
    return WritePlan(
        topic=topic,
        dlq_topic=dlq_topic(topic),
        source_csv=source,
        hdfs_dir=hdfs_dir,
        checkpoint=checkpoint_for(hdfs.user, WritePlan.job, topic, hdfs_dir),
        partitions=partitions,
        replication_factor=replication,
        fail_on_duplicates=bool(params.get("fail_on_duplicates", False)),
        **trigger,
        bootstrap_servers=kafka.bootstrap_servers,
        hdfs_uri=hdfs.hdfs_uri,
        hdfs_user=hdfs.user,
        asset_uri=topic_asset_uri(kafka.bootstrap_servers, topic),
        **conn_ids,
    )


def plan_read(params: dict, kafka: KafkaSettings, hdfs: HdfsSettings, policy: Policy | None = None) -> ReadPlan:
    """read_from_kafka: params -> plan. Raises ValueError with a clear message on a bad param, and
    policy.PolicyViolation on one that reaches beyond ``policy`` (default: Airflow's configuration)."""
    policy = load_policy() if policy is None else policy
    topic = validate_topic_name(params.get("topic", DEFAULT_TOPIC))
    conn_ids = check_conn_ids(ReadPlan.job, kafka_conn_ids(params), policy)
    java_client_options(kafka.config)  # as in plan_write: an untranslatable setting fails before Spark
    messages = params.get("messages") or []
    if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
        raise ValueError(f"messages must be a list of strings, got {messages!r}")
    starting = params.get("starting_offsets", "earliest")
    if starting not in STARTING_OFFSETS:
        raise ValueError(f"starting_offsets must be one of {STARTING_OFFSETS}, got {starting!r}")
    trigger = _trigger(params)
    output_dir = check_hdfs_dir(
        resolve_hdfs_dir(params.get("output_dir") or f"{topic}-archive", hdfs.user, "output_dir"),
        hdfs.user,
        "output_dir",
        policy,
    )
    return ReadPlan(
        topic=topic,
        messages=messages,
        output_dir=output_dir,
        checkpoint=checkpoint_for(hdfs.user, ReadPlan.job, topic, output_dir),
        starting_offsets=starting,
        fail_on_data_loss=bool(params.get("fail_on_data_loss", False)),
        **trigger,
        bootstrap_servers=kafka.bootstrap_servers,
        hdfs_uri=hdfs.hdfs_uri,
        hdfs_user=hdfs.user,
        **conn_ids,
    )
