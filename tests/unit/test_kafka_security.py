"""Secure Kafka, the pure parts: client configs, the secret file handed to Spark, redaction, the secrets file."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from devstack import acl as kafka_acl
from devstack import secure
from devstack.secure import client_config, secure_connection
from include.config import DEFAULT_PLAYERS_CSV, SPARK_CONF
from include.connections import HdfsSettings, KafkaSettings
from include.kafka.security import (
    jaas_config,
    java_client_options,
    principal,
    private_client_file,
    secret_values,
)
from include.plans import kafka_conn_ids, plan_read, plan_write
from jobs.streaming import kafka_client_options

SECURE = client_config("writer", 'pa"ss\\word', "/ca.pem", "localhost:9093")


def test_plaintext_connection_needs_no_java_security_options():
    assert java_client_options({"bootstrap.servers": "localhost:9092"}) == {}


def test_sasl_ssl_connection_becomes_a_scram_jaas_config_and_a_pem_truststore():
    options = java_client_options(SECURE)
    assert options["security.protocol"] == "SASL_SSL"
    assert options["sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="writer" password="pa\\"ss\\\\word";'
    )
    assert options["ssl.truststore.type"] == "PEM"
    assert options["ssl.truststore.location"] == "/ca.pem"


def test_sasl_without_a_password_or_with_an_unknown_mechanism_is_refused():
    with pytest.raises(ValueError, match=r"sasl\.username and sasl\.password"):
        java_client_options({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"})
    with pytest.raises(ValueError, match="not supported"):
        jaas_config("OAUTHBEARER", "u", "p")


def test_principal_is_the_sasl_user_or_anonymous():
    assert principal(SECURE) == "User:writer"
    assert principal({"bootstrap.servers": "x:9092"}) == "User:ANONYMOUS"


def test_secret_values_are_the_password_and_the_jaas_config_only():
    options = java_client_options(SECURE)
    assert secret_values(SECURE) == ['pa"ss\\word']
    assert secret_values(options) == [options["sasl.jaas.config"]]


def test_client_file_is_private_and_gone_afterwards():
    with private_client_file({"sasl.jaas.config": "secret"}) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert json.loads(path.read_text()) == {"sasl.jaas.config": "secret"}
    assert not path.exists()
    assert not path.parent.exists()


def test_job_reads_the_client_file_as_kafka_options_and_refuses_one_others_can_read(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(java_client_options(SECURE)))
    path.chmod(0o600)
    options = kafka_client_options(str(path))
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule")
    assert kafka_client_options(None) == {}
    path.chmod(0o644)
    with pytest.raises(SystemExit, match="readable by others"):
        kafka_client_options(str(path))


def test_spark_redaction_covers_kafka_credentials():
    conf_regex = re.compile(SPARK_CONF["spark.redaction.regex"])
    options_regex = re.compile(SPARK_CONF["spark.sql.redaction.options.regex"])
    for key in ("kafka.sasl.jaas.config", "spark.kafka.clusters.c.sasl.token.mechanism", "ssl.truststore.password"):
        assert conf_regex.search(key), key
    assert options_regex.search("kafka.sasl.jaas.config")


def test_plans_carry_the_job_and_admin_connection_ids():
    kafka = KafkaSettings({"bootstrap.servers": "localhost:9093"})
    hdfs = HdfsSettings(namenodes=("nn",), http_port=9870, user="ana", hdfs_uri="hdfs://nn:8020")
    write = plan_write({"source_csv": str(DEFAULT_PLAYERS_CSV), "partitions": 1, "replication_factor": 1}, kafka, hdfs)
    assert (write.kafka_conn_id, write.kafka_admin_conn_id) == ("kafka_default", "kafka_default")
    read = plan_read({"kafka_conn_id": "kafka_secure_reader", "kafka_admin_conn_id": "kafka_secure_admin"}, kafka, hdfs)
    assert (read.kafka_conn_id, read.kafka_admin_conn_id) == ("kafka_secure_reader", "kafka_secure_admin")
    assert not any("sasl" in str(arg) or "password" in str(arg) for arg in read.spark_args + write.spark_args)
    with pytest.raises(ValueError, match="kafka_conn_id must be an Airflow connection id"):
        kafka_conn_ids({"kafka_conn_id": "bad id; rm -rf"})


def test_secrets_are_generated_once_private_and_never_rotated_by_a_restart(tmp_path: Path):
    first = secure.ensure_secrets(tmp_path)
    path = secure.secrets_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secure.secrets_dir(tmp_path).stat().st_mode) == 0o700
    assert set(first["users"]) == {"admin", "writer", "reader"}
    assert len(set(first["users"].values())) == 3
    os.chmod(path, 0o644)  # a permissive file is tightened again
    assert secure.ensure_secrets(tmp_path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secure_connections_come_from_the_secrets_file_and_other_ids_fall_through(tmp_path: Path):
    data = secure.ensure_secrets(tmp_path)
    conn = secure_connection("kafka_secure_reader", tmp_path)
    assert conn["extra"]["sasl.username"] == "reader"
    assert conn["extra"]["sasl.password"] == data["users"]["reader"]
    assert conn["extra"]["ssl.ca.location"] == str(secure.ca_pem(tmp_path))
    assert secure_connection("kafka_default", tmp_path) is None


def _acls(bindings) -> set[tuple[str, str, str, str, str]]:
    return {(b.principal, b.operation.name, b.restype.name, b.name, b.resource_pattern_type.name) for b in bindings}


def test_writer_may_write_and_describe_the_topic_and_its_dead_letter_topic_only():
    assert _acls(kafka_acl.writer_bindings("orders")) == {
        ("User:writer", op, "TOPIC", name, "LITERAL")
        for op in ("WRITE", "DESCRIBE")
        for name in ("orders", "orders.dlq")
    }
    # a prefix covers <prefix>...dlq already
    assert {b[3] for b in _acls(kafka_acl.writer_bindings("secure-", "PREFIXED"))} == {"secure-"}


def test_reader_may_read_and_describe_the_topic_and_read_the_projects_consumer_groups():
    assert _acls(kafka_acl.reader_bindings("orders")) == {
        ("User:reader", "READ", "TOPIC", "orders", "LITERAL"),
        ("User:reader", "DESCRIBE", "TOPIC", "orders", "LITERAL"),
        ("User:reader", "READ", "GROUP", "kafka-spark-airflow", "PREFIXED"),
    }
    defaults = _acls(kafka_acl.default_bindings())
    assert {op for who, op, *_ in defaults if who == "User:reader"} == {"READ", "DESCRIBE"}
    assert {op for who, op, *_ in defaults if who == "User:writer"} == {"WRITE", "DESCRIBE"}


def test_spark_read_jobs_consumer_groups_are_inside_the_readers_group_acl():
    from include.config import GROUP_PREFIX, SPARK_GROUP_ID_PREFIX
    from jobs.read_from_kafka import GROUP_ID_PREFIX

    assert GROUP_ID_PREFIX == SPARK_GROUP_ID_PREFIX
    assert GROUP_ID_PREFIX.startswith(GROUP_PREFIX)
