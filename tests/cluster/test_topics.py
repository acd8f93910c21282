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
