"""read_from_kafka's steps, one copy: the DAG's tasks, the bench and the CDS training call these.

    plan(params)                      -> ReadPlan        validate_params
    create_topics(plan)               -> TopicsReady     create_topic
    (ProduceToTopicOperator: plan.messages)               produce_messages
    record_offsets(plan)              -> ReadRecord      record_offsets (its spark_args: the job's arguments)
    (spark-submit jobs/read_from_kafka.py recorded.spark_args)  submit_read_job
    verify(plan, recorded)            -> dict            verify_sink (raises on a wrong archive; its "event":
                                                         the archive asset event's extra)

Each step takes the plan (the dataclass, or its XCom dict) and optional ``Connections`` (default: the
Airflow connections the plan names). Kafka admin work uses ``kafka_admin_conn_id``; the job's own connection
(``kafka_conn_id``) is only checked for the permissions the job needs.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from include.assets import read_event_extra
from include.connections import AIRFLOW_CONNECTIONS, Connections
from include.hdfs import archive as hdfs_archive
from include.hdfs import client, spark_logs
from include.kafka import admin, offsets
from include.plans import ReadPlan, kafka_conn_ids, plan_read
from include.policy import Policy, check_conn_ids, load_policy
from include.verify import read as verify_read
from include.verify.diff import VerificationFailed

log = logging.getLogger(__name__)

JOB_OPERATIONS = ["DESCRIBE", "READ"]


@dataclass(frozen=True)
class ReadRecord:
    """Recorded just before the job: the topic's id (the job tags every archived row with it), its low, stable
    (``read_committed``) and high offsets ({partition: offset}), where the query's checkpoint stood (its
    offsets, None for a new query, and its last committed batch), the floor an accepted data loss leaves, the
    losses in words, and the job's arguments (the plan's, and ``--topic-id``)."""

    topic_id: str
    low: dict[str, int]
    end: dict[str, int]
    high: dict[str, int]
    before: dict[str, int] | None
    batch_before: int
    floor: dict[str, int]
    data_loss: list[str]
    spark_args: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, recorded: Self | dict[str, Any]) -> Self:
        return recorded if isinstance(recorded, cls) else cls(**{f.name: recorded[f.name] for f in fields(cls)})


def plan(params: dict, connections: Connections = AIRFLOW_CONNECTIONS, policy: Policy | None = None) -> ReadPlan:
    """validate_params: the run's params, checked against the deployment's ``policy`` (default: Airflow's
    configuration), as a plan (bootstrap servers from the job's connection)."""
    policy = load_policy() if policy is None else policy
    # the connections a run may use are checked before one is even looked up
    conn_ids = check_conn_ids(ReadPlan.job, kafka_conn_ids(params), policy)
    return plan_read(dict(params), connections.kafka(conn_ids["kafka_conn_id"]), connections.hdfs(), policy)


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
    """The topic's id and offsets before the job, where the query stands, and what it lost.

    Refuses, before Spark starts, a query that may not write this archive (jobs/archive.py binding_problem).
    With ``fail_on_data_loss`` a loss fails here; otherwise it is logged with its count and the verification
    starts after it (the floor, kept next to the checkpoint).
    """
    plan = ReadPlan.of(plan)
    config = connections.kafka(plan.kafka_admin_conn_id).config
    admin.check_broker(config)
    admin.require_topic(config, plan.topic)
    hdfs = client.client(connections.hdfs())
    problem = hdfs_archive.binding_problem(hdfs, plan.topic, plan.output_dir, plan.checkpoint, plan.archive_checkpoint)
    if problem:
        raise VerificationFailed(problem)
    marks = offsets.watermarks(config, plan.topic)
    high, stable = offsets.end_offsets_by_isolation(config, plan.topic, list(marks))
    current_id = admin.topic_id(config, plan.topic)
    committed = spark_logs.kafka_committed_offsets(hdfs, plan.archive_checkpoint, plan.topic)
    known = verify_read.read_incarnation(hdfs, plan.checkpoint)
    gone, floor = verify_read.data_loss(plan.topic, marks, current_id, committed, known)
    if gone:
        text = f"messages of {plan.topic} that the query had not read are gone: " + "; ".join(gone)
        if plan.fail_on_data_loss:
            raise VerificationFailed(text + ". Failing because fail_on_data_loss is set.")
        log.warning("%s. Going on (fail_on_data_loss is false): the query continues from what exists.", text)
    for partition in sorted(marks):
        if stable[partition] < high[partition]:
            log.warning(
                "partition %d of %s: a transaction is open since offset %d (high watermark %d): this run reads up to "
                "that last stable offset; a later run reads the rest once the transaction ends",
                partition,
                plan.topic,
                stable[partition],
                high[partition],
            )
    verify_read.write_incarnation(hdfs, plan.checkpoint, current_id, floor)
    recreated = bool(known) and known["topic_id"] != current_id
    before = floor if recreated else committed
    return ReadRecord(
        topic_id=current_id,
        low={str(p): low for p, (low, _) in marks.items()},
        end={str(p): o for p, o in stable.items()},
        high={str(p): o for p, o in high.items()},
        before=None if before is None else {str(p): o for p, o in before.items()},
        batch_before=spark_logs.last_committed_batch(hdfs, plan.archive_checkpoint),
        floor={str(p): o for p, o in floor.items()},
        data_loss=gone,
        spark_args=[*plan.spark_args, "--topic-id", current_id],
    )


def verify(
    plan: ReadPlan | dict,
    recorded: ReadRecord | dict,
    connections: Connections = AIRFLOW_CONNECTIONS,
    stall_s: float = 120,
    run_id: str | None = None,
) -> dict:
    """This run's range (where the checkpoint stood before the job -> where it stands now) is in the files its
    batches committed, each message once with its exact bytes and headers, and nothing else; the query read at
    least up to the stable offsets recorded before the job. Raises VerificationFailed with the diff."""
    plan, recorded = ReadPlan.of(plan), ReadRecord.of(recorded)
    config = connections.kafka(plan.kafka_admin_conn_id).config
    admin.check_broker(config)
    settings = connections.hdfs()
    hdfs = client.client(settings)
    after = spark_logs.kafka_committed_offsets(hdfs, plan.archive_checkpoint, plan.topic) or {}
    short = {
        p: (after.get(int(p), 0), end)
        for p, end in recorded.end.items()
        if after.get(int(p), 0) < end and end > int(recorded.floor.get(p, 0))
    }
    if short:
        raise VerificationFailed(
            f"the read job stopped before the end of {plan.topic} recorded before it ran "
            + ", ".join(f"partition {p}: at offset {a} of {e}" for p, (a, e) in sorted(short.items()))
            + " (stopped before its first batch ended? a longer run_seconds, or trigger availableNow, reads it all)"
        )
    before = None if recorded.before is None else {int(p): o for p, o in recorded.before.items()}
    started = None
    if before is None:  # a new query: where Spark started it
        started = spark_logs.kafka_initial_offsets(hdfs, plan.archive_checkpoint, plan.topic)
    ranges = verify_read.run_ranges(before, started, after, recorded.low, recorded.floor)
    batch_after = spark_logs.last_committed_batch(hdfs, plan.archive_checkpoint)
    files = hdfs_archive.committed_files(hdfs, plan.output_dir, recorded.batch_before, batch_after)
    result = verify_read.check_run(
        config,
        client.file_system(settings),
        plan.topic,
        plan.output_dir,
        ranges,
        files,
        recorded.topic_id,
        stall_s=stall_s,
    ) | {"batches": [recorded.batch_before + 1, batch_after]}
    # what the archive's asset event carries (include/assets.py): only once the run is proven
    return result | {"event": read_event_extra(plan.to_dict(), result, files, run_id or "")}
