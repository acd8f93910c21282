"""The local stack really works: the broker, WebHDFS, and Spark against both through the connector jars."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.kafka import consume_all
from tests.support.stack import HDFS_URI, hdfs_user

pytestmark = pytest.mark.integration


def _create(kafka_config, topic):
    admin = AdminClient(kafka_config)  # keep a reference: the futures die with the client
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)


def test_a_message_produced_is_consumed_from_the_broker(kafka_config, unique, cleanup_topics):
    topic = f"smoke-{unique}"
    cleanup_topics(topic)
    _create(kafka_config, topic)
    producer = Producer(kafka_config)
    producer.produce(topic, key=b"k", value="héllo".encode())
    assert producer.flush(30) == 0
    assert [(k, v) for k, v, _, _ in consume_all(topic)] == [(b"k", "héllo".encode())]


def test_a_file_written_through_webhdfs_reads_back(hdfs, unique, cleanup_hdfs):
    path = f"/user/{hdfs_user()}/smoke-{unique}/f.txt"
    cleanup_hdfs(path.rsplit("/", 1)[0])
    hdfs.write(path, data=b"Ann;12\n", overwrite=True)
    with hdfs.read(path) as reader:
        assert reader.read() == b"Ann;12\n"


def test_spark_reads_a_file_from_hdfs_rpc(spark_with_kafka, hdfs, unique, cleanup_hdfs):
    directory = f"/user/{hdfs_user()}/smoke-{unique}"
    cleanup_hdfs(directory)
    hdfs.write(f"{directory}/p.csv", data=b"Ann;12\nBo;40\n", overwrite=True)
    rows = spark_with_kafka.read.csv(f"{HDFS_URI}{directory}/p.csv", sep=";", schema="name string, age int").collect()
    assert sorted((r.name, r.age) for r in rows) == [("Ann", 12), ("Bo", 40)]


def test_spark_writes_to_kafka_and_reads_it_back_through_the_connector(
    spark_with_kafka, kafka_config, unique, cleanup_topics
):
    topic = f"smoke-spark-{unique}"
    cleanup_topics(topic)
    _create(kafka_config, topic)
    df = spark_with_kafka.createDataFrame([("Ann", "12"), ("Bo", "40")], "key string, value string")
    df.write.format("kafka").option("kafka.bootstrap.servers", kafka_config["bootstrap.servers"]).option(
        "topic", topic
    ).save()
    back = (
        spark_with_kafka.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_config["bootstrap.servers"])
        .option("subscribe", topic)
        .load()
        .selectExpr("cast(key as string) k", "cast(value as string) v")
        .collect()
    )
    assert sorted((r.k, r.v) for r in back) == [("Ann", "12"), ("Bo", "40")]
    assert sorted((k, v) for k, v, _, _ in consume_all(topic)) == [(b"Ann", b"12"), (b"Bo", b"40")]
