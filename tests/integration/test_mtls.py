"""The mTLS listener on the real broker (SSL, client certificate required, signed by the local CA), and every
secured setting reaching Spark's Java client as it should (issue #19).

- Who gets in: a client with the CA but no certificate is refused; ``writer-mtls``'s certificate gets in, as
  ``User:writer-mtls``, which may write the ``secure-`` topics and nothing else.
- The translation works in Spark's Kafka connector itself: ``ssl.endpoint.identification.algorithm`` ``none``
  (Java's empty string) and ``https`` (against the broker certificate's SAN, localhost), with the encrypted key.
- write_to_kafka with ``kafka_mtls_writer`` runs end to end, checked by an independent plain consumer, while
  no process's command line or environment, no task log and no XCom ever holds the key or its password.
- A setting that can't be translated fails validate_params, naming the key, before any topic or Spark.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient, NewTopic

from devstack import secure
from devstack.nodes import stack_dir
from devstack.secure import ADMIN_CONN_ID, mtls_bootstrap, secure_connection
from include.config import DEFAULT_PLAYERS_CSV, MTLS_WRITER_CONN_ID
from include.kafka.security import java_client_options
from include.policy import env_var
from tests.support.airflow import BackgroundDagRun, run_dag
from tests.support.data import PLAYERS
from tests.support.kafka import PLAIN, client_errors, count_records, list_topics, produce_one, write_target
from tests.support.secrets import SecretSampler, scan_logs, xcom_leaks
from tests.support.stack import hdfs_user, require_listener

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mtls(stack) -> dict[str, str]:
    require_listener(mtls_bootstrap(), "mTLS")
    return secure_connection(MTLS_WRITER_CONN_ID)["extra"]


@pytest.fixture(scope="module")
def admin_config(stack) -> dict[str, str]:
    return secure_connection(ADMIN_CONN_ID)["extra"]


@pytest.fixture(scope="module")
def secrets(mtls) -> dict[str, str]:
    """What must never leak: the client key's password, the key (whole and line by line), every SCRAM password."""
    data = secure.load_secrets(stack_dir())
    key = Path(mtls["ssl.key.location"]).read_text()
    lines = [line for line in key.splitlines() if not line.startswith("-----")]
    return {
        "mtls key password": data["mtls_key_password"],
        "mtls key": key,
        **{f"mtls key line {i}": line for i, line in enumerate(lines)},
        **{f"user {u}": p for u, p in data["users"].items()},
    }


@pytest.fixture
def topic(unique, admin_config):
    name = f"secure-mtls-{unique}"
    admin = AdminClient(admin_config)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)
    yield name
    for future in admin.delete_topics([name, f"{name}.dlq"], operation_timeout=30).values():
        future.exception(timeout=30)


def test_mtls_listener_requires_a_certificate_and_maps_it_to_writer_mtls(mtls, topic, unique, admin_config):
    # the CA alone (TLS, no client certificate): the handshake is refused
    no_cert = {k: v for k, v in mtls.items() if not k.startswith(("ssl.certificate", "ssl.key"))}
    assert client_errors(no_cert, list_topics), "a client without a certificate got metadata from the mTLS listener"
    # the certificate: User:writer-mtls writes a secure- topic ...
    assert produce_one(mtls, topic) is None
    assert count_records(PLAIN, topic) == 1
    # ... and nothing else (a topic outside its ACLs)
    other = f"other-mtls-{unique}"
    admin = AdminClient(admin_config)
    admin.create_topics([NewTopic(other, num_partitions=1, replication_factor=1)])[other].result(timeout=30)
    try:
        err = produce_one(mtls, other)
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    finally:
        admin.delete_topics([other], operation_timeout=30)[other].exception(timeout=30)


@pytest.mark.parametrize("algorithm", ["none", "https"])
def test_spark_writes_through_the_mtls_listener_with_either_endpoint_identification(
    algorithm, mtls, topic, tmp_path, spark_with_kafka
):
    """Spark's Kafka sink with the translated options, read back as a job reads them (its 0600 file): ``none``
    becomes Java's empty string (passed as is, the handshake failed: "Unknown identification algorithm: none");
    ``https`` checks the broker certificate's SAN (localhost). The key is PEM text in memory, its password too."""
    from jobs.streaming import kafka_client_options

    options = java_client_options({**mtls, "ssl.endpoint.identification.algorithm": algorithm})
    assert options["ssl.endpoint.identification.algorithm"] == ("" if algorithm == "none" else "https")
    path = tmp_path / "kafka-client.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(options, handle)
    rows = spark_with_kafka.createDataFrame([("k", f"spark-{algorithm}")], "key string, value string")
    (
        rows.write.format("kafka")
        .options(**kafka_client_options(str(path)))
        .option("kafka.bootstrap.servers", mtls_bootstrap())
        .option("topic", topic)
        .save()
    )
    assert count_records(PLAIN, topic) == 1


@pytest.fixture
def mtls_target(unique, admin_config, cleanup_hdfs):
    yield from write_target(f"secure-mtls-{unique}", admin_config, cleanup_hdfs)


def test_mtls_write_dag_runs_end_to_end_without_the_key_or_its_password_anywhere(mtls_target, secrets):
    since = time.time() - 1
    conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **mtls_target,
        "kafka_conn_id": MTLS_WRITER_CONN_ID,
        "kafka_admin_conn_id": ADMIN_CONN_ID,
    }
    with SecretSampler(secrets, job_marker=mtls_target["topic"]) as sampler:
        run = BackgroundDagRun("write_to_kafka", conf)
        write = run.wait(timeout_s=600)

    assert write.ok, write.tail()
    assert all(state == "success" for state in write.task_states().values()), write.task_states()
    assert "Kafka as the certificate of CN=writer-mtls over SSL" in write.output
    assert count_records(PLAIN, mtls_target["topic"]) == len(PLAYERS)

    assert sampler.spark_seen > 0, "the sampler never saw the job's spark-submit"
    assert not sampler.leaks, sorted(set(sampler.leaks))
    assert "write_to_kafka done:" in run.log.read_text(errors="replace")
    scanned, leaks = scan_logs(secrets, since, [run.log, *(stack_dir() / "logs").glob("*.log")])
    assert scanned >= 3 and not leaks, (scanned, leaks)
    scanned, leaks = xcom_leaks(secrets)
    assert scanned > 0 and not leaks, (scanned, leaks)


def test_an_untranslatable_setting_fails_validate_params_naming_the_key(mtls, unique):
    """A deployment's connection that Java can't be given (here an OpenSSL cipher list) stops the run before any
    topic, upload or Spark: validate_params names the key. No secret in it, so an AIRFLOW_CONN_ variable will do."""
    bad = {k: v for k, v in mtls.items() if not k.startswith(("ssl.certificate", "ssl.key"))}
    bad["ssl.cipher.suites"] = "ECDHE-RSA-AES128-GCM-SHA256"
    conn_id = "kafka_mtls_untranslatable"
    env = {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({"conn_type": "kafka", "extra": bad}),
        env_var("write_job_conn_ids"): f"kafka_default,{conn_id}",
    }
    conf = {
        "topic": f"secure-mtls-{unique}",
        "hdfs_dir": f"/user/{hdfs_user()}/it-{unique}/landing",
        "kafka_conn_id": conn_id,
        "kafka_admin_conn_id": ADMIN_CONN_ID,
    }
    run = run_dag("write_to_kafka", conf, env=env)
    assert not run.ok
    states = run.task_states()
    assert states["validate_params"] == "failed", states
    assert states.get("create_topic") in ("upstream_failed", None), states
    assert states.get("submit_write_job") in ("upstream_failed", None), states
    assert "Kafka connection setting 'ssl.cipher.suites' can't be passed to Spark's Java client" in run.output
