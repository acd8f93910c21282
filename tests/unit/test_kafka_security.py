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
    UntranslatableKafkaSetting,
    ignored_by_spark,
    jaas_config,
    java_client_options,
    principal,
    private_client_file,
    secret_values,
)
from include.plans import kafka_conn_ids, plan_read, plan_write
from jobs.streaming import kafka_client_options
from tests.support.pki import Pki

PKI = Pki.shared()
CA_FILE = PKI.file("ca.pem")
SECURE = client_config("writer", 'pa"ss\\word', CA_FILE, "localhost:9093")


def test_plaintext_connection_needs_no_java_security_options():
    assert java_client_options({"bootstrap.servers": "localhost:9092"}) == {}


def test_sasl_ssl_connection_becomes_a_scram_jaas_config_and_a_pem_truststore():
    options = java_client_options(SECURE)
    assert options["security.protocol"] == "SASL_SSL"
    assert options["sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="writer" password="pa\\"ss\\\\word";'
    )
    # the CA's content, not its path: the options file is all Spark (and its executors) need
    assert options["ssl.truststore.type"] == "PEM"
    assert options["ssl.truststore.certificates"] == Path(CA_FILE).read_text()
    assert "ssl.truststore.location" not in options


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
    for key in ("kafka.ssl.keystore.key", "kafka.ssl.keystore.certificate.chain", "kafka.ssl.key.password"):
        assert options_regex.search(key) and conf_regex.search(key), key


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


# ------------------------------------------------------------------ the translation, key by key (issue #19)

SSL = {"bootstrap.servers": "localhost:9094", "security.protocol": "SSL", "ssl.ca.location": CA_FILE}
MTLS = {
    **SSL,
    "ssl.certificate.location": PKI.file("client.pem"),
    "ssl.key.location": PKI.file("key-pbes1.pem"),
    "ssl.key.password": "unit-test-key-password",
}


def _refused(config: dict[str, str], key: str, why: str = "") -> str:
    with pytest.raises(UntranslatableKafkaSetting) as refused:
        java_client_options(config)
    assert refused.value.key == key, str(refused.value)
    assert f"Kafka connection setting {key!r} can't be passed to Spark's Java client" in str(refused.value)
    assert re.search(why, str(refused.value)), str(refused.value)
    return str(refused.value)


@pytest.mark.parametrize(
    ("mechanism", "module"),
    [
        ("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule"),
        ("SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule"),
        ("scram-sha-512", "org.apache.kafka.common.security.scram.ScramLoginModule"),
    ],
)
def test_each_sasl_mechanism_becomes_its_jaas_login_module(mechanism, module):
    for key in ("sasl.mechanism", "sasl.mechanisms"):  # librdkafka takes both spellings
        config = {"security.protocol": "SASL_PLAINTEXT", key: mechanism, "sasl.username": "u", "sasl.password": "p"}
        assert java_client_options(config) == {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism.upper(),
            "sasl.jaas.config": f'{module} required username="u" password="p";',
        }


def test_sasl_mechanisms_java_cant_be_given_are_refused_by_name():
    base = {"security.protocol": "SASL_SSL", "sasl.username": "u", "sasl.password": "p"}
    _refused({**base, "sasl.mechanism": "GSSAPI"}, "sasl.mechanism", "GSSAPI and OAUTHBEARER need")
    _refused({**base, "sasl.mechanism": "OAUTHBEARER"}, "sasl.mechanism", "'OAUTHBEARER' is not supported")
    _refused(base, "sasl.mechanism", "'GSSAPI'")  # librdkafka's default mechanism
    _refused({**base, "sasl.mechanisms": "PLAIN,SCRAM-SHA-256"}, "sasl.mechanisms", "one mechanism")
    _refused({**base, "sasl.kerberos.service.name": "kafka"}, "sasl.kerberos.service.name", "no Java equivalent")
    _refused({**base, "sasl.oauthbearer.method": "oidc"}, "sasl.oauthbearer.method", "no Java equivalent")
    _refused({**SSL, "sasl.username": "u"}, "sasl.username", "SSL uses no SASL")


def test_client_certificate_and_encrypted_key_files_become_an_in_memory_pem_keystore():
    options = java_client_options(MTLS)
    assert options == {
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": Path(CA_FILE).read_text(),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": Path(PKI.file("client.pem")).read_text(),
        "ssl.keystore.key": Path(PKI.file("key-pbes1.pem")).read_text(),
        "ssl.key.password": "unit-test-key-password",
    }
    # no path reaches Spark (the files may not exist where its executors run), and no keystore password
    assert not any(value.startswith("/") for value in options.values())
    assert "ssl.keystore.password" not in options and "ssl.keystore.location" not in options


def test_pem_strings_translate_like_the_files_they_would_be():
    inline = {
        "security.protocol": "SSL",
        "ssl.ca.pem": Path(CA_FILE).read_text(),
        "ssl.certificate.pem": Path(PKI.file("client.pem")).read_text(),
        "ssl.key.pem": Path(PKI.file("key-pbes1.pem")).read_text(),
        "ssl.key.password": "unit-test-key-password",
    }
    assert java_client_options(inline) == java_client_options(
        {k: v for k, v in MTLS.items() if k != "bootstrap.servers"}
    )


def test_an_unencrypted_pkcs8_key_needs_no_password_and_a_password_given_anyway_is_not_passed():
    plain = {**MTLS, "ssl.key.location": PKI.file("key-plain.pem")}
    options = java_client_options(plain)
    assert options["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert "ssl.key.password" not in options  # Java would try to decrypt a plain key with it, and fail
    del plain["ssl.key.password"]
    assert java_client_options(plain)["ssl.keystore.key"] == options["ssl.keystore.key"]


def test_keys_java_cant_read_or_open_are_refused_before_spark_naming_the_key_and_the_fix():
    message = _refused({**MTLS, "ssl.key.location": PKI.file("key-traditional.pem")}, "ssl.key.location", "PKCS#8")
    assert "openssl pkcs8 -topk8" in message
    message = _refused({**MTLS, "ssl.key.location": PKI.file("key-pbes2.pem")}, "ssl.key.location", "PBES2")
    assert "-v1 PBE-SHA1-3DES" in message
    _refused({**MTLS, "ssl.key.password": "wrong"}, "ssl.key.password", "does not decrypt the key")
    no_password = {k: v for k, v in MTLS.items() if k != "ssl.key.password"}
    _refused(no_password, "ssl.key.location", "encrypted and ssl.key.password is not set")
    # the key and its certificate come together, from one source each
    _refused({k: v for k, v in MTLS.items() if k != "ssl.certificate.location"}, "ssl.key.location", "certificate")
    _refused({k: v for k, v in MTLS.items() if k != "ssl.key.location"}, "ssl.certificate.location", "its key")
    _refused({**MTLS, "ssl.key.pem": "x"}, "ssl.key.pem", "not both")
    _refused({**MTLS, "ssl.certificate.location": CA_FILE + ".missing"}, "ssl.certificate.location", "can't read")
    _refused({**SSL, "ssl.key.password": "p"}, "ssl.key.password", "without a key")


def test_trust_settings_java_cant_take_are_refused():
    _refused({**SSL, "ssl.ca.location": str(Path(CA_FILE).parent)}, "ssl.ca.location", "is a directory")
    _refused({**SSL, "ssl.ca.location": "probe"}, "ssl.ca.location", "'probe'")
    _refused({**SSL, "ssl.ca.location": PKI.file("key-plain.pem")}, "ssl.ca.location", "no PEM certificate")
    _refused({**SSL, "ssl.ca.pem": "x"}, "ssl.ca.pem", "not both")
    _refused({**SSL, "enable.ssl.certificate.verification": "false"}, "enable.ssl.certificate.verification")
    assert "ssl.truststore.type" not in java_client_options({"security.protocol": "SSL"})  # the JVM's own CAs


def test_endpoint_identification_none_becomes_javas_empty_string_and_https_stays():
    key = "ssl.endpoint.identification.algorithm"
    assert java_client_options({**SSL, key: "none"})[key] == ""
    assert java_client_options({**SSL, key: "https"})[key] == "https"
    assert key not in java_client_options(SSL)  # Java's default: https, as librdkafka's since 2.0
    _refused({**SSL, key: "ldaps"}, key, "neither 'https' nor 'none'")


def test_a_pkcs12_keystore_file_is_passed_as_javas_pkcs12_keystore():
    p12 = {**SSL, "ssl.keystore.location": PKI.file("client.p12"), "ssl.keystore.password": "s3"}
    options = java_client_options(p12)
    assert options["ssl.keystore.type"] == "PKCS12"
    assert options["ssl.keystore.location"] == PKI.file("client.p12")
    assert options["ssl.keystore.password"] == options["ssl.key.password"] == "s3"
    _refused({**MTLS, "ssl.keystore.location": PKI.file("client.p12")}, "ssl.keystore.location", "not both")
    _refused({**SSL, "ssl.keystore.password": "s3"}, "ssl.keystore.password", "without ssl.keystore.location")


def test_unknown_security_keys_and_protocols_are_refused_and_client_tuning_is_deliberately_not_passed():
    _refused({**SSL, "ssl.cipher.suites": "ECDHE-RSA-AES128-GCM-SHA256"}, "ssl.cipher.suites", "no Java equiv")
    _refused({**SSL, "ssl.crl.location": "/crl.pem"}, "ssl.crl.location")
    _refused({**SSL, "ssl_key": "x"}, "ssl_key")
    _refused({"security.protocol": "TLS"}, "security.protocol", "not one of PLAINTEXT, SSL")
    _refused({"ssl.ca.location": CA_FILE}, "ssl.ca.location", "PLAINTEXT uses no TLS")
    tuned = {**SSL, "client.id": "me", "socket.timeout.ms": "5000", "group.id": "g"}
    assert java_client_options(tuned) == java_client_options(SSL)
    assert ignored_by_spark(tuned) == ["client.id", "group.id", "socket.timeout.ms"]


def test_an_untranslatable_job_connection_fails_validate_params_naming_the_key():
    hdfs = HdfsSettings(namenodes=("nn",), http_port=9870, user="ana", hdfs_uri="hdfs://nn:8020")
    bad = KafkaSettings({**SSL, "ssl.endpoint.identification.algorithm": "ldaps"})
    write_params = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        "kafka_conn_id": "kafka_mtls_writer",
        "kafka_admin_conn_id": "kafka_secure_admin",
        "partitions": 1,
        "replication_factor": 1,
    }
    with pytest.raises(UntranslatableKafkaSetting, match=r"'ssl\.endpoint\.identification\.algorithm'"):
        plan_write(write_params, bad, hdfs)
    with pytest.raises(UntranslatableKafkaSetting, match=r"'ssl\.endpoint\.identification\.algorithm'"):
        plan_read({}, bad, hdfs)
    assert plan_write(write_params, KafkaSettings(MTLS), hdfs).kafka_conn_id == "kafka_mtls_writer"


def test_private_keys_are_secrets_line_by_line_and_the_principal_is_the_certificates_subject():
    options = java_client_options(MTLS)
    secrets = secret_values(options)
    assert options["ssl.keystore.key"] in secrets and "unit-test-key-password" in secrets
    key_lines = [line for line in options["ssl.keystore.key"].splitlines() if not line.startswith("-----")]
    assert set(key_lines) <= set(secrets)
    assert options["ssl.truststore.certificates"] not in secrets  # certificates are public
    inline = {**SSL, "ssl.key.pem": Path(PKI.file("key-plain.pem")).read_text()}
    assert inline["ssl.key.pem"] in secret_values(inline)
    assert principal(MTLS) == "the certificate of CN=writer-mtls"


def test_the_mtls_connection_comes_from_the_secrets_file_with_its_files_in_the_secrets_folder(tmp_path: Path):
    data = secure.ensure_secrets(tmp_path)
    conn = secure_connection("kafka_mtls_writer", tmp_path)
    extra = conn["extra"]
    assert extra["security.protocol"] == "SSL"
    assert extra["ssl.key.password"] == data["mtls_key_password"]
    assert extra["ssl.endpoint.identification.algorithm"] == "https"
    for key in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
        assert Path(extra[key]).parent == secure.tls_dir(tmp_path), key
    assert "password" not in conn  # the key's password is in the extra only (masked as a secret)


def test_the_mtls_writer_may_write_what_the_scram_writer_may_and_nothing_more():
    defaults = _acls(kafka_acl.default_bindings())
    writer = {(op, kind, name, pattern) for who, op, kind, name, pattern in defaults if who == "User:writer"}
    mtls = {(op, kind, name, pattern) for who, op, kind, name, pattern in defaults if who == "User:writer-mtls"}
    assert mtls == writer
