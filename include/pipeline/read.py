"""read_from_kafka's steps, one copy: the DAG's tasks, the bench and the CDS training call these.

    plan(params)                      -> ReadPlan        validate_params
    create_topics(plan)               -> TopicsReady     create_topic
    (ProduceToTopicOperator: plan.messages)               produce_messages
    record_offsets(plan)              -> ReadRecord      record_offsets (its spark_args: the job's arguments)
    (spark-submit jobs/read_from_kafka.py recorded.spark_args)  submit_read_job
    verify(plan, recorded)            -> dict            verify_sink (raises on a wrong archive)

Each step takes the plan (the dataclass, or its XCom dict) and optional ``Connections`` (default: the
Airflow connections the plan names). Kafka admin work uses ``kafka_admin_conn_id``; the job's own connection
(``kafka_conn_id``) is only checked for the permissions the job needs.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from include.connections import AIRFLOW_CONNECTIONS, Connections
from include.hdfs import client, spark_logs
from include.kafka import admin, offsets
from include.plans import ReadPlan, kafka_conn_ids, plan_read
from include.verify import read as verify_read
from include.verify.diff import VerificationFailed

log = logging.getLogger(__name__)

JOB_OPERATIONS = ["DESCRIBE", "READ"]


@dataclass(frozen=True)
class ReadRecord:
    """Recorded just before the job: the topic's id (the job tags every archived row with it), its low and
    end offsets ({partition: offset}), the floor an accepted data loss leaves, the losses in words, and the
    job's arguments (the plan's, and ``--topic-id``)."""

    topic_id: str
    low: dict[str, int]
    end: dict[str, int]
    floor: dict[str, int]
    data_loss: list[str]
    spark_args: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, recorded: Self | dict[str, Any]) -> Self:
        return recorded if isinstance(recorded, cls) else cls(**{f.name: recorded[f.name] for f in fields(cls)})


def plan(params: dict, connections: Connections = AIRFLOW_CONNECTIONS) -> ReadPlan:
    """validate_params: the run's params, checked, as a plan (bootstrap servers from the job's connection)."""
    kafka = connections.kafka(kafka_conn_ids(params)["kafka_conn_id"])
    return plan_read(dict(params), kafka, connections.hdfs())


def create_topics(plan: ReadPlan | dict, connections: Connections = AIRFLOW_CONNECTIONS) -> admin.TopicsReady:
    """The topic exists (created by the admin connection), and the job's principal may read it. An existing
    topic is taken as it is; a new one gets 1 partition and the cluster's default replication factor."""
    plan = ReadPlan.of(plan)
    states = admin.prepare_job_topics(
        connections.kafka(plan.kafka_admin_conn_id).config,
        connections.kafka(plan.kafka_conn_id).config,
        plan.kafka_conn_id,
        [plan.topic],
        None,
        None,
        JOB_OPERATIONS,
    )
    return admin.TopicsReady(tuple(states))


def record_offsets(plan: ReadPlan | dict, connections: Connections = AIRFLOW_CONNECTIONS) -> ReadRecord:
    """The topic's id and offsets before the job, and what the query lost.

    With ``fail_on_data_loss`` a loss fails here, before Spark starts; otherwise it is logged with its count
    and the verification starts after it (the floor, kept next to the checkpoint).
    """
    plan = ReadPlan.of(plan)
    config = connections.kafka(plan.kafka_admin_conn_id).config
    admin.check_broker(config)
    admin.require_topic(config, plan.topic)
    hdfs = client.client(connections.hdfs())
    marks = offsets.watermarks(config, plan.topic)
    current_id = admin.topic_id(config, plan.topic)
    committed = spark_logs.kafka_committed_offsets(hdfs, plan.archive_checkpoint, plan.topic)
    known = verify_read.read_incarnation(hdfs, plan.checkpoint)
    gone, floor = verify_read.data_loss(plan.topic, marks, current_id, committed, known)
    if gone:
        text = f"messages of {plan.topic} that the query had not read are gone: " + "; ".join(gone)
        if plan.fail_on_data_loss:
            raise VerificationFailed(text + ". Failing because fail_on_data_loss is set.")
        log.warning("%s. Going on (fail_on_data_loss is false): the query continues from what exists.", text)
    verify_read.write_incarnation(hdfs, plan.checkpoint, current_id, floor)
    return ReadRecord(
        topic_id=current_id,
        low={str(p): low for p, (low, _) in marks.items()},
        end={str(p): high for p, (_, high) in marks.items()},
        floor={str(p): o for p, o in floor.items()},
        data_loss=gone,
        spark_args=[*plan.spark_args, "--topic-id", current_id],
    )


def verify(
    plan: ReadPlan | dict,
    recorded: ReadRecord | dict,
    connections: Connections = AIRFLOW_CONNECTIONS,
    timeout_s: float = 120,
) -> dict:
    """Every message up to the recorded end (from where the query started) is in the archive exactly once,
    with its key and value; raises VerificationFailed with the diff, returns the counts and ranges."""
    plan, recorded = ReadPlan.of(plan), ReadRecord.of(recorded)
    config = connections.kafka(plan.kafka_admin_conn_id).config
    admin.check_broker(config)
    hdfs = client.client(connections.hdfs())
    started = spark_logs.kafka_initial_offsets(hdfs, plan.archive_checkpoint, plan.topic) or {}
    ranges = verify_read.sink_ranges(recorded.low, recorded.end, recorded.floor, started)
    return verify_read.check_archive(
        config, hdfs, plan.topic, plan.output_dir, ranges, recorded.topic_id, timeout_s=timeout_s
    )
