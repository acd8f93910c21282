"""create_topic's checks on a real 3-broker cluster: the replication factor defaults to the brokers' own, and a
topic whose min.insync.replicas no acks=all write could satisfy is refused."""

from __future__ import annotations

import pytest

from include.kafka.admin import CLUSTER_DEFAULT, TopicMismatch, ensure_topic

pytestmark = pytest.mark.cluster


@pytest.fixture
def topic(unique, cleanup_topics) -> str:
    name = f"cluster-topic-{unique}"
    cleanup_topics(name)
    return name


def test_a_new_topic_gets_the_clusters_replication_factor_and_min_insync_replicas(kafka_config, topic):
    state = ensure_topic(kafka_config, topic, 1, CLUSTER_DEFAULT)
    assert (state.created, state.replication_factor, state.min_insync_replicas) == (True, 3, 2)
    again = ensure_topic(kafka_config, topic, 1, CLUSTER_DEFAULT)
    assert (again.created, again.replication_factor) == (False, 3)


def test_an_existing_topic_with_fewer_replicas_than_the_clusters_default_is_refused(kafka_config, topic):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_config)
    admin.create_topics([NewTopic(topic, 1, 2)])[topic].result(timeout=30)
    with pytest.raises(TopicMismatch, match="replication factor 2, not 3"):
        ensure_topic(kafka_config, topic, 1, CLUSTER_DEFAULT)


def test_a_topic_whose_min_insync_replicas_exceeds_its_replicas_is_refused(kafka_config, topic):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_config)
    admin.create_topics([NewTopic(topic, 1, 2, config={"min.insync.replicas": "3"})])[topic].result(timeout=30)
    with pytest.raises(TopicMismatch, match=r"min\.insync\.replicas=3 but replication factor 2"):
        ensure_topic(kafka_config, topic, None, None)


def test_write_to_kafka_triggers_read_from_kafka_through_the_clusters_asset(unique, cleanup_hdfs, hdfs):
    """#18 point 4 on the cluster profile: read_from_kafka, parsed with the cluster's kafka_default (three
    brokers), is scheduled on kafka://localhost:29092/kafka-new-topic, and a write_to_kafka run there updates
    that very asset: Airflow queues a read_from_kafka run for it (asset_dag_run_queue). For the lead to run
    (`make test-cluster`); written, not run, on the branch that added it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    from include.config import DEFAULT_PLAYERS_CSV, DEFAULT_TOPIC
    from include.plans import topic_asset_uri
    from tests.support.airflow import run_dag
    from tests.support.stack import ROOT, hdfs_user

    servers = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]["bootstrap.servers"]
    uri = topic_asset_uri(servers, DEFAULT_TOPIC)
    assert uri == "kafka://localhost:29092/kafka-new-topic"
    airflow = str(Path(sys.executable).parent / "airflow")
    for args in (["dags", "reserialize"], ["dags", "unpause", "read_from_kafka"]):
        proc = subprocess.run([airflow, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.uri == uri))
        assert asset_id is not None, f"read_from_kafka is not scheduled on {uri}"
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.asset_id == asset_id))
    home = f"/user/{hdfs_user()}/cluster-assets-{unique}"
    cleanup_hdfs(home)
    try:
        write = run_dag(
            "write_to_kafka",
            {"source_csv": str(DEFAULT_PLAYERS_CSV), "topic": DEFAULT_TOPIC, "hdfs_dir": f"{home}/landing"},
        )
        assert write.ok, write.tail()
        with create_session() as session:
            extra = session.scalar(
                select(AssetEvent.extra).where(AssetEvent.asset_id == asset_id).order_by(AssetEvent.id.desc()).limit(1)
            )
            queued = session.scalars(
                select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset_id)
            ).all()
        assert extra["topic"] == DEFAULT_TOPIC and extra["rows"]["valid"] > 0
        assert "read_from_kafka" in queued, f"no read_from_kafka run queued for {uri}: {queued}"
    finally:
        subprocess.run([airflow, "dags", "pause", "read_from_kafka"], capture_output=True, timeout=300, cwd=ROOT)
        with create_session() as session:
            session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == "read_from_kafka"))
