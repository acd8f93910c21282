"""write_to_kafka's steps, one copy: the DAG's tasks, the bench and the CDS training call these.

    plan(params)                      -> WritePlan       validate_params
    create_topics(plan)               -> TopicsReady     create_topic
    ingest(plan)                      -> Ingested        ingest_players_csv
    record_offsets(plan)              -> WriteRecord     record_offsets
    (spark-submit jobs/write_to_kafka.py plan.spark_args)  submit_write_job
    expect(plan, recorded)            -> Expectation     verify_messages (on a worker, before it waits)
    needed(plan, expectation)         -> {topic: count}  verify_messages (what its trigger waits for)
    compare(plan, recorded, expected) -> WriteReport     verify_messages (on a worker, after the wait)
    check(plan, summary)              -> dict            verify_messages (raises on a wrong result)

Each step takes the plan (the dataclass, or its XCom dict) and optional ``Connections`` (default: the
Airflow connections the plan names). Kafka admin work uses ``kafka_admin_conn_id``; the job's own connection
(``kafka_conn_id``) is only checked for the permissions the job needs.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Self

from include.connections import AIRFLOW_CONNECTIONS, Connections
from include.hdfs import client, spark_logs
from include.hdfs import ingest as hdfs_ingest
from include.kafka import admin, offsets
from include.plans import WritePlan, kafka_conn_ids, plan_write
from include.policy import Policy, PolicyViolation, check_conn_ids, load_policy
from include.verify import write as verify_write
from include.verify.diff import VerificationFailed

log = logging.getLogger(__name__)

JOB_OPERATIONS = ["DESCRIBE", "WRITE"]


@dataclass(frozen=True)
class WriteRecord:
    """What the verification compares against, recorded just before the job: the end offsets of both topics
    ({topic: {partition: offset}}), the query's last committed batch (-1: none), and the HDFS path of the file
    this run ingested (the query must have taken it, in this run or an earlier one)."""

    offsets: dict[str, dict[str, int]]
    batch_before: int
    ingested: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, recorded: Self | dict[str, Any]) -> Self:
        if isinstance(recorded, cls):
            return recorded
        return cls(recorded["offsets"], int(recorded["batch_before"]), recorded.get("ingested"))


def plan(params: dict, connections: Connections = AIRFLOW_CONNECTIONS, policy: Policy | None = None) -> WritePlan:
    """validate_params: the run's params, checked against the deployment's ``policy`` (default: Airflow's
    configuration), as a plan (bootstrap servers from the job's connection). Every check of a param is here,
    before any topic, HDFS path or message exists: the source file is a readable text file, hdfs_dir is not a
    file."""
    policy = load_policy() if policy is None else policy
    # the connections a run may use are checked before one is even looked up
    conn_ids = check_conn_ids(WritePlan.job, kafka_conn_ids(params), policy)
    planned = plan_write(dict(params), connections.kafka(conn_ids["kafka_conn_id"]), connections.hdfs(), policy)
    hdfs_ingest.check_source_file(planned.source_csv)
    hdfs_ingest.check_target_dir(client.client(connections.hdfs()), planned.hdfs_dir)
    return planned


def create_topics(plan: WritePlan | dict, connections: Connections = AIRFLOW_CONNECTIONS) -> admin.TopicsReady:
    """Both topics exist as planned (created by the admin connection), and the job's principal may write them."""
    plan = WritePlan.of(plan)
    states = admin.prepare_job_topics(
        connections.kafka(plan.kafka_admin_conn_id).config,
        connections.kafka(plan.kafka_conn_id).config,
        plan.kafka_conn_id,
        [plan.topic, plan.dlq_topic],
        plan.partitions,
        plan.replication_factor,
        JOB_OPERATIONS,
    )
    return admin.TopicsReady(tuple(states))


def ingest(plan: WritePlan | dict, connections: Connections = AIRFLOW_CONNECTIONS) -> hdfs_ingest.Ingested:
    """The source CSV, checked, into the landing directory under its content's name (a no-op the second time)."""
    plan = WritePlan.of(plan)
    # validate_params resolved the path (symlinks included) inside an allowed folder: it must still be that file
    if os.path.realpath(plan.source_csv) != plan.source_csv:
        raise PolicyViolation(f"source_csv {plan.source_csv!r} changed into a link since validate_params: refused")
    source = hdfs_ingest.check_source_file(plan.source_csv)
    hdfs = client.client(connections.hdfs())
    hdfs_ingest.check_target_dir(hdfs, plan.hdfs_dir)
    return hdfs_ingest.ingest(hdfs, source, plan.hdfs_dir)


VERIFICATION_START = "_verification_start.json"  # beside the query's checkpoint (include/verify/write.py)


def record_offsets(
    plan: WritePlan | dict,
    connections: Connections = AIRFLOW_CONNECTIONS,
    ingested: hdfs_ingest.Ingested | dict | None = None,
) -> WriteRecord:
    """Both topics' end offsets and the query's last committed batch, before the job runs, with the path of the
    file ``ingested`` (ingest's result); kept beside the checkpoint. When an earlier run's job was killed in a
    batch no run has committed since, the offsets recorded before that job instead, so that this run counts the
    copies its attempts wrote."""
    plan = WritePlan.of(plan)
    config = connections.kafka(plan.kafka_admin_conn_id).config
    hdfs = client.client(connections.hdfs())
    batch_before = spark_logs.last_committed_batch(hdfs, plan.checkpoint)
    if isinstance(ingested, hdfs_ingest.Ingested):
        ingested = ingested.to_dict()
    path_ingested = None if ingested is None else ingested["path"]
    now = {topic: offsets.end_offsets(config, topic) for topic in (plan.topic, plan.dlq_topic)}
    path = posixpath.join(plan.checkpoint, VERIFICATION_START)
    try:
        earlier = client.read_json(hdfs, path)
    except ValueError:
        log.warning("%s is not JSON: ignored, recorded again", path)
        earlier = None
    start = verify_write.verification_start(
        earlier, batch_before, spark_logs.last_planned_batch(hdfs, plan.checkpoint), now
    )
    if start is not None:
        log.warning(
            "batch %d of this query was planned by a job that did not finish (offsets recorded %s, before it ran): "
            "verifying from those offsets, so that what its attempts wrote is counted (%s instead of %s)",
            batch_before + 1,
            earlier.get("recorded_at"),
            start,
            now,
        )
        return WriteRecord(offsets=start, batch_before=batch_before, ingested=path_ingested)
    record = WriteRecord(offsets=now, batch_before=batch_before, ingested=path_ingested)
    client.write_json(hdfs, path, {**record.to_dict(), "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")})
    return record


def expect(
    plan: WritePlan | dict, recorded: WriteRecord | dict, connections: Connections = AIRFLOW_CONNECTIONS
) -> verify_write.Expectation:
    """verify_messages, on a worker before it waits: the files this run's batches took and the digests of the
    rows they must give (one streamed pass over the files)."""
    plan, recorded = WritePlan.of(plan), WriteRecord.of(recorded)
    hdfs = client.client(connections.hdfs())
    return verify_write.expect(hdfs, plan.checkpoint, recorded.batch_before)


def needed(plan: WritePlan | dict, expectation: verify_write.Expectation) -> dict[str, int]:
    """What the wait waits for: {topic: messages that must at least have arrived}."""
    plan = WritePlan.of(plan)
    valid, dead = expectation.counts
    return {plan.topic: valid, plan.dlq_topic: dead}


def compare(
    plan: WritePlan | dict,
    recorded: WriteRecord | dict,
    expectation: verify_write.Expectation | dict,
    connections: Connections = AIRFLOW_CONNECTIONS,
) -> verify_write.WriteReport:
    """verify_messages, on a worker after the wait: what arrived against ``expectation``, streamed; and whether
    the query took the file this run ingested. The comparison, whatever it says (``check`` judges it)."""
    plan, recorded = WritePlan.of(plan), WriteRecord.of(recorded)
    if isinstance(expectation, dict):
        expectation = verify_write.Expectation.from_dict(expectation)
    hdfs = client.client(connections.hdfs())
    report = verify_write.verify_write(
        connections.kafka(plan.kafka_admin_conn_id).config,
        hdfs,
        expectation,
        topic=plan.topic,
        dlq_topic=plan.dlq_topic,
        start_offsets=recorded.offsets,
    )
    if recorded.ingested is not None:
        report.ingested = verify_write.where_taken(hdfs, plan.checkpoint, recorded.ingested, report.files)
    return report


def verify(
    plan: WritePlan | dict,
    recorded: WriteRecord | dict,
    connections: Connections = AIRFLOW_CONNECTIONS,
    timeout_s: float = 300,
) -> verify_write.WriteReport:
    """The three steps in one call, waiting in this thread (the bench, a non-deferrable sensor)."""
    plan, recorded = WritePlan.of(plan), WriteRecord.of(recorded)
    expectation = expect(plan, recorded, connections)
    config = connections.kafka(plan.kafka_admin_conn_id).config
    verify_write.wait_for(config, recorded.offsets, needed(plan, expectation), timeout_s)
    return compare(plan, recorded, expectation, connections)


def check(plan: WritePlan | dict, summary: dict) -> dict:
    """Judge a verification's summary (``WriteReport.summary()`` + ``complete``): raise VerificationFailed with
    the diff when the messages are not the expected ones, or on duplicates with ``fail_on_duplicates``;
    otherwise return the counts."""
    plan = WritePlan.of(plan)
    counts = {k: v for k, v in summary.items() if k not in ("diff", "status")}
    ingested = summary.get("ingested")
    if ingested is not None and not ingested["taken"]:
        raise VerificationFailed(
            f"the file this run ingested, {ingested['path']}, was not taken by the query of {plan.hdfs_dir}: "
            "none of its rows can have been written. Spark's file source skips a file whose modification time is "
            "more than its maxFileAge (7 days) older than the newest file the query has seen (a file copied with "
            "its times preserved): give it a current time (hdfs dfs -touch) and run again"
        )
    if ingested is not None and not ingested["this_run"]:
        log.info(
            "the file this run ingested, %s, was already taken by batch %d of the query (an earlier run): "
            "its rows were verified then",
            ingested["path"],
            ingested["batch"],
        )
    if not summary["complete"]:
        raise VerificationFailed(
            f"{plan.topic}: the messages that arrived are not the expected ones "
            f"({summary['missing']} missing, {summary['unexpected']} unexpected):\n" + "\n".join(summary["diff"])
        )
    if summary["duplicates"]:
        message = (
            f"{summary['duplicates']} duplicate message(s): an interrupted batch was written again "
            "(Kafka's sink is at-least-once)"
        )
        if plan.fail_on_duplicates:
            raise VerificationFailed(message + "; failing because fail_on_duplicates is set")
        log.warning("%s; not failing (fail_on_duplicates is false)", message)
    return counts
