"""Every constant of the pipeline, defined once: names, connection ids, the job settings.

Pure data: importing this module reads no file, opens no connection and globs no jar (DAG files import it at
parse time). The Spark jobs are shipped alone and keep their own copies of the few values they need
(jobs/read_from_kafka.py GROUP_ID_PREFIX); tests/unit pins each copy to the value here.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

# the folder that holds include/ and jobs/ (the project, or a deployment's copy of it)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
JOBS_DIR = PROJECT_ROOT / "jobs"
DEFAULT_PLAYERS_CSV = Path(__file__).resolve().parent / "data" / "players.csv"

# ---- Kafka names ------------------------------------------------------------------------------------------
DEFAULT_TOPIC = "kafka-new-topic"
DLQ_SUFFIX = ".dlq"
KAFKA_TOPIC_MAX_CHARS = 249  # Kafka's own limit, for any topic (a dead-letter topic included)
TOPIC_CHARS = "A-Za-z0-9._-"
# The one rule for a topic a user names (the DAGs' `topic` param and plan_write/plan_read): Kafka's characters,
# short enough that its dead-letter topic <topic>.dlq still fits Kafka's limit; not starting with '-' (the Spark
# job's command line would take it for an option) nor '__' (Kafka's internal topics, e.g. __consumer_offsets).
# The same regex in Python and in the UI's JSON-schema form (a lookahead both understand).
TOPIC_PATTERN = rf"^(?!-|__)[{TOPIC_CHARS}]{{1,{KAFKA_TOPIC_MAX_CHARS - len(DLQ_SUFFIX)}}}$"
# Every consumer group of this project starts with this (Spark's groupIdPrefix, the verifiers' groups): the
# secure listener's reader ACL is PREFIXED on it.
GROUP_PREFIX = "kafka-spark-airflow"
SPARK_GROUP_ID_PREFIX = f"{GROUP_PREFIX}-spark"
# read_from_kafka's asset watcher (plugins/topic_arrival.py): the group its connection must name, its own
WATCHER_GROUP_ID = f"{GROUP_PREFIX}-watcher"

# ---- Airflow connections ----------------------------------------------------------------------------------
KAFKA_CONN_ID = "kafka_default"
# the local stack's SASL_SSL principals (devstack/secure.py serves them); a deployment may name its own the same
SECURE_ADMIN_CONN_ID = "kafka_secure_admin"
SECURE_WRITER_CONN_ID = "kafka_secure_writer"
SECURE_READER_CONN_ID = "kafka_secure_reader"
# the local stack's mTLS principal: a client certificate on the SSL listener that requires one
MTLS_WRITER_CONN_ID = "kafka_mtls_writer"
# the watcher's: the deployment's brokers, group.id WATCHER_GROUP_ID, enable.auto.commit false (docs/events.md)
WATCHER_CONN_ID = "kafka_watcher"
WEBHDFS_CONN_ID = "webhdfs_default"
SPARK_CONN_ID = "spark_default"

# ---- the jobs' params -------------------------------------------------------------------------------------
TRIGGERS = ("availableNow", "processingTime")
STARTING_OFFSETS = ("earliest", "latest")
CHECKPOINT_ROOT = "checkpoints"  # under the HDFS user's home

# ---- spark-submit -----------------------------------------------------------------------------------------
# G1 and a clean exit on OOM. A local class-data-sharing archive, when there is one, reaches the driver
# through the local stack's environment (SPARK_SUBMIT_OPTS, devstack/cds.py), not through this setting.
DRIVER_JAVA_OPTIONS = "-XX:+UseG1GC -XX:+ExitOnOutOfMemoryError"

# Spark settings for a 2-core machine (see `make bench`); a cluster's spark_default may override master.
SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.driver.extraJavaOptions": DRIVER_JAVA_OPTIONS,
    # Closing an HDFS file races the DataNode's report of its last block; when the NameNode answers "not
    # complete yet", the client sleeps before asking again (NameNode log: "is COMMITTED but not COMPLETE").
    # Every micro-batch closes several files (offsets, data, sink log, commits), so that sleep dominates a
    # small batch. Ask again after 20 ms, doubling: 12 tries give a slow DataNode more time in total than the
    # defaults (fewer, longer sleeps) before giving up.
    "spark.hadoop.dfs.client.block.write.locateFollowingBlock.initial.delay.ms": "20",
    "spark.hadoop.dfs.client.block.write.locateFollowingBlock.retries": "12",
    # Kafka credentials never reach Spark's configuration (the job reads them from a 0600 file and sets them as
    # source/sink options in memory); should one be set anyway, the UI, event log and plan strings redact it.
    # ("s[e]cret", "p[a]ssword": the same regex, but the words themselves in a --conf value make the Spark
    # provider mask the next word of the logged command.)
    # (keyst[o]re: an mTLS client key travels as kafka.ssl.keystore.key, include/kafka/security.py)
    "spark.redaction.regex": "(?i)s[e]cret|p[a]ssword|token|access[.]?key|sasl|jaas|credential|keyst[o]re",
    "spark.sql.redaction.options.regex": "(?i)url|s[e]cret|p[a]ssword|token|sasl|jaas|credential|keyst[o]re",
}

# How long a Spark job may run before Airflow kills it (and, with it, its whole process tree). Deployment
# configuration, like Airflow's own settings: read from the environment when the DAG file is parsed.
SPARK_JOB_TIMEOUT = timedelta(minutes=float(os.environ.get("SPARK_JOB_TIMEOUT_MINUTES", "30")))
# What a processingTime run leaves of SPARK_JOB_TIMEOUT for spark-submit to start the driver and for the last
# batch to finish: run_seconds must fit in SPARK_JOB_TIMEOUT - SPARK_START_MARGIN (include/plans.py).
SPARK_START_MARGIN = timedelta(minutes=2)

# ---- one driver per checkpoint (include/hdfs/lease.py) -----------------------------------------------------
# The submitting task renews the lease every ttl/3; the driver stops when its heartbeat is older than ttl; a
# stale lease is taken over when older than 2 * ttl. A second run waits up to LEASE_WAIT for the holder to finish.
# Deployment configuration (tests shorten the ttl): read from the environment when the DAG file is parsed.
LEASE_TTL_S = float(os.environ.get("LEASE_TTL_SECONDS", "30"))
LEASE_WAIT_S = float(os.environ.get("LEASE_WAIT_SECONDS", "600"))
