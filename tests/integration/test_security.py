"""The secure listener on the real broker (SASL_SSL, SCRAM-SHA-512, ACLs), and that no secret leaks.

- Who gets in: no credentials, a wrong password, plaintext against the SASL_SSL port: all rejected.
- What each principal may do: reader can't write, writer can't read (any topic), a non-admin can't create
  topics, and the DAG says so naming the principal and the permission.
- Secure write_to_kafka and read_from_kafka runs end to end, while a sampler reads every process's command line
  (``ps -eo args``) and environment every 100 ms: no password, ever; nor in the task logs, nor in the repo.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AclBindingFilter, AdminClient, NewTopic

from devstack import acl as kafka_acl
from devstack import secure
from devstack.nodes import stack_dir
from devstack.secure import (
    ADMIN_CONN_ID,
    READER_CONN_ID,
    WRITER_CONN_ID,
)
from include.config import DEFAULT_PLAYERS_CSV, GROUP_PREFIX
from include.kafka.admin import AUTHORIZATION_FAILED, KafkaAccessDenied, ensure_topic, require_operations
from include.plans import checkpoint_for
from include.policy import env_var
from tests.support.airflow import BackgroundDagRun, run_dag
from tests.support.data import PLAYERS
from tests.support.kafka import client_errors, count_records, list_topics, produce_one, write_target
from tests.support.secrets import SecretSampler, scan_logs, secure_configs, stack_passwords
from tests.support.stack import ROOT, WEBHDFS, hdfs_user

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def configs(stack) -> dict[str, dict[str, str]]:
    return secure_configs()


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return stack_passwords()


@pytest.fixture
def topics(configs):
    """Creates topics as admin (named secure-it-..., which the default ACLs grant to writer and reader)."""
    made: list[str] = []
    admin = AdminClient(configs[ADMIN_CONN_ID])

    def make(name: str) -> str:
        futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        futures[name].result(timeout=30)
        made.append(name)
        return name

    yield make
    for name in made:
        admin.delete_topics([name], operation_timeout=30)[name].exception(timeout=30)


def test_wrong_password_is_rejected_by_authentication(configs):
    wrong = {**configs[READER_CONN_ID], "sasl.password": "not-" + uuid.uuid4().hex}
    errors = client_errors(wrong, list_topics)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    assert any("invalid credentials" in e.str() or "Authentication failed" in e.str() for e in errors), errors


def test_client_without_credentials_is_rejected(configs):
    reader = configs[READER_CONN_ID]
    tls_only = {"bootstrap.servers": reader["bootstrap.servers"], "security.protocol": "SSL"}
    tls_only["ssl.ca.location"] = reader["ssl.ca.location"]
    errors = client_errors(tls_only, list_topics)
    assert errors and all(e.code() != KafkaError.NO_ERROR for e in errors)
    # a SASL user with no password is refused by the client before anything is sent
    no_password = {k: v for k, v in reader.items() if k != "sasl.password"}
    assert client_errors(no_password, list_topics)


def test_plaintext_client_against_the_secure_port_is_rejected(configs):
    plaintext = {"bootstrap.servers": configs[READER_CONN_ID]["bootstrap.servers"]}
    errors = client_errors(plaintext, list_topics)
    assert errors, "a plaintext client got metadata from the SASL_SSL listener"
    # and a client that does not trust our CA (the system's CAs only) is refused too
    untrusted = {**configs[READER_CONN_ID], "ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt"}
    errors = client_errors(untrusted, list_topics)
    assert errors


def _read_first(config, topic: str, group: str | None = None) -> bytes | KafkaError:
    """The first record of partition 0, or the error that stopped the consumer (or _TIMED_OUT after 20 s)."""
    group = group or f"{GROUP_PREFIX}-test-{uuid.uuid4().hex[:8]}"
    errors: list[KafkaError] = []
    consumer = Consumer({**config, "group.id": group, "enable.auto.commit": False, "error_cb": errors.append})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None:
                return msg.error() or msg.value()
            denied = [e for e in errors if e.code() in AUTHORIZATION_FAILED]
            if denied:
                return denied[0]
        return KafkaError(KafkaError._TIMED_OUT)
    finally:
        consumer.close()


def test_writer_writes_its_topic_and_reader_reads_it(configs, topics, unique):
    topic = topics(f"secure-it-{unique}")
    assert produce_one(configs[WRITER_CONN_ID], topic) is None
    assert _read_first(configs[READER_CONN_ID], topic) == b"value"


def test_reader_cannot_write(configs, topics, unique):
    topic = topics(f"secure-it-{unique}")
    err = produce_one(configs[READER_CONN_ID], topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err


def test_writer_cannot_read_its_own_topic_nor_other_topics(configs, topics, unique):
    own = topics(f"secure-it-{unique}")
    other = topics(f"other-it-{unique}")
    group = f"writer-test-{unique}"
    # the writer has neither READ on the topic nor any consumer group (which one librdkafka reports first varies)
    assert produce_one(configs[ADMIN_CONN_ID], own) is None
    got = _read_first(configs[WRITER_CONN_ID], own, group)
    assert isinstance(got, KafkaError), got
    assert got.code() in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED), got
    # with a group granted for this test only, what stops it is the topic's READ permission
    group_acl = kafka_acl._binding("GROUP", group, "LITERAL", "writer", "READ")
    kafka_acl.grant(configs[ADMIN_CONN_ID], [group_acl])
    try:
        for topic in (own, other):
            assert produce_one(configs[ADMIN_CONN_ID], topic) is None
            got = _read_first(configs[WRITER_CONN_ID], topic, group)
            # denied outright; on a topic it may not even DESCRIBE, librdkafka may just never get a partition
            assert isinstance(got, KafkaError), (topic, got)
            expected = (KafkaError.TOPIC_AUTHORIZATION_FAILED,) + ((KafkaError._TIMED_OUT,) if topic == other else ())
            assert got.code() in expected, (topic, got)
    finally:
        admin = AdminClient(configs[ADMIN_CONN_ID])
        group_filter = AclBindingFilter(
            group_acl.restype,
            group,
            group_acl.resource_pattern_type,
            group_acl.principal,
            "*",
            group_acl.operation,
            group_acl.permission_type,
        )
        admin.delete_acls([group_filter])[group_filter].result(timeout=30)
    # and the reader can't read a topic that was not granted to it
    got = _read_first(configs[READER_CONN_ID], other)
    assert isinstance(got, KafkaError), got
    assert got.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._TIMED_OUT), got


def test_create_topic_with_a_non_admin_fails_naming_the_principal(configs, unique):
    with pytest.raises(KafkaAccessDenied, match=r"User:writer may not CREATE topic 'secure-it-"):
        ensure_topic(configs[WRITER_CONN_ID], f"secure-it-{unique}", 1, 1)
    with pytest.raises(KafkaAccessDenied, match=r"User:reader may not DESCRIBE \(nor CREATE\) topic 'other-it-"):
        ensure_topic(configs[READER_CONN_ID], f"other-it-{unique}", 1, 1)


def test_missing_acl_is_named_with_the_principal_the_operation_and_the_fix(configs, topics, unique):
    other = topics(f"other-it-{unique}")
    with pytest.raises(KafkaAccessDenied) as denied:
        require_operations(configs[WRITER_CONN_ID], [other], ["DESCRIBE", "WRITE"], WRITER_CONN_ID)
    assert "User:writer (connection 'kafka_secure_writer') may not DESCRIBE topic" in str(denied.value)
    assert f"python -m devstack acl grant --writer {other}" in str(denied.value)
    # the reader has DESCRIBE and READ on secure-*, not WRITE
    own = topics(f"secure-it-{unique}")
    with pytest.raises(KafkaAccessDenied, match=r"User:reader .* lacks WRITE on topic"):
        require_operations(configs[READER_CONN_ID], [own], ["DESCRIBE", "WRITE"], READER_CONN_ID)
    require_operations(configs[READER_CONN_ID], [own], ["DESCRIBE", "READ"], READER_CONN_ID)


def test_write_dag_with_the_writer_as_admin_is_refused_in_validate_params(unique):
    """The deployment's policy gives the admin role kafka_default and kafka_secure_admin only
    (docs/security.md); whoever triggers can't pick another."""
    topic = f"secure-it-{unique}"
    run = run_dag(
        "write_to_kafka",
        {"topic": topic, "hdfs_dir": f"/user/{hdfs_user()}/it-{unique}/landing", "kafka_conn_id": WRITER_CONN_ID},
    )
    assert not run.ok
    states = run.task_states()
    assert states["validate_params"] == "failed", states
    assert states.get("submit_write_job") in ("upstream_failed", None), states
    assert "kafka_admin_conn_id 'kafka_secure_writer' is not a connection write_to_kafka's admin role" in run.output


def test_write_dag_with_the_writer_as_admin_fails_in_create_topic_naming_the_writer(unique):
    """Where a deployment allows it anyway, create_topic still names what the writer lacks."""
    topic = f"secure-it-{unique}"
    conf = {"topic": topic, "hdfs_dir": f"/user/{hdfs_user()}/it-{unique}/landing", "kafka_conn_id": WRITER_CONN_ID}
    run = BackgroundDagRun(
        "write_to_kafka", conf, env={env_var("write_admin_conn_ids"): f"kafka_default,{WRITER_CONN_ID}"}
    ).wait()
    assert not run.ok
    states = run.task_states()
    assert states["create_topic"] == "failed", states
    assert states.get("submit_write_job") in ("upstream_failed", None), states
    assert f"User:writer may not CREATE topic '{topic}'" in run.output, run.tail()


@pytest.fixture
def secure_target(unique, configs, cleanup_hdfs):
    yield from write_target(f"secure-it-{unique}", configs[ADMIN_CONN_ID], cleanup_hdfs)


def test_secure_write_and_read_runs_end_to_end_without_the_password_anywhere(
    secure_target, configs, passwords, cleanup_hdfs
):
    since = time.time() - 1
    write_conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **secure_target,
        "kafka_conn_id": WRITER_CONN_ID,
        "kafka_admin_conn_id": ADMIN_CONN_ID,
    }
    output_dir = f"{secure_target['hdfs_dir'].rsplit('/', 1)[0]}/archive"
    read_conf = {
        "topic": secure_target["topic"],
        "messages": ["secure message 1", "secure message 2"],
        "output_dir": output_dir,
        "kafka_conn_id": READER_CONN_ID,
        "kafka_admin_conn_id": ADMIN_CONN_ID,
    }
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", secure_target["topic"], output_dir))
    with SecretSampler(passwords, job_marker=secure_target["topic"]) as sampler:
        write_run = BackgroundDagRun("write_to_kafka", write_conf)
        write = write_run.wait(timeout_s=900)
        write_spark_samples = sampler.spark_seen
        read_run = BackgroundDagRun("read_from_kafka", read_conf)
        read = read_run.wait(timeout_s=900)

    assert write.ok, write.tail()
    assert all(state == "success" for state in write.task_states().values()), write.task_states()
    # the 12 players written by the writer, then the read DAG's 2 messages (produced by the admin connection)
    assert count_records(configs[ADMIN_CONN_ID], secure_target["topic"]) == len(PLAYERS) + len(read_conf["messages"])
    assert "Kafka as User:writer over SASL_SSL" in write.output
    assert read.ok, read.tail()
    states = read.task_states()
    assert states["submit_read_job"] == "success" and states["verify_sink"] == "success", states
    assert "Kafka as User:reader over SASL_SSL" in read.output

    assert sampler.samples >= 100, f"the sampler ran only {sampler.samples} times"
    slowest = max(seconds for _, seconds, _ in sampler.timeline)
    assert write_spark_samples > 0, f"the sampler never saw the write job spark-submit (slowest: {slowest:.1f}s)"
    assert sampler.spark_seen > write_spark_samples, "the sampler never saw the read job's spark-submit"
    print(
        f"sampler: {sampler.samples} samples, {sampler.spark_seen} while spark-submit ran "
        f"(ps showed it in {sampler.ps_spark_seen}; longest ps line {sampler.longest_ps_line} characters)"
    )
    assert not sampler.leaks, sorted(set(sampler.leaks))

    # `airflow dags test` writes every task's log (and the triggerer's) into the run's output, which
    # BackgroundDagRun keeps in a file; task log files under $AIRFLOW_HOME/logs (a scheduler's runs) too
    for run_log, task_line in ((write_run.log, "write_to_kafka done:"), (read_run.log, "Batch: 0")):
        assert task_line in run_log.read_text(errors="replace"), f"the Spark job's own log is not in {run_log}"
    stack_logs = list((stack_dir() / "logs").glob("*.log"))
    scanned, leaks = scan_logs(passwords, since, [write_run.log, read_run.log, *stack_logs])
    assert scanned >= 5, scanned
    assert not leaks, leaks


def test_no_generated_secret_is_in_the_repository(passwords, tmp_path):
    patterns = tmp_path / "patterns"  # from a file: a pattern on git's command line would be in `ps`
    patterns.write_text("\n".join(passwords.values()) + "\n")
    patterns.chmod(0o600)
    proc = subprocess.run(
        ["git", "grep", "--untracked", "-F", "-l", "-f", str(patterns)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 1, f"a generated secret is in these files of the repository: {proc.stdout}{proc.stderr}"


def test_secrets_are_private_and_ignored_by_git():
    root = stack_dir()
    for path in (
        secure.secrets_file(root),
        secure.broker_keystore(root),
        secure.client_key(root),
        root / "conf" / "kafka" / "server.properties",
    ):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    assert secure.secrets_dir(root).stat().st_mode & 0o077 == 0
    if root.is_relative_to(ROOT):
        proc = subprocess.run(["git", "check-ignore", "-q", str(secure.secrets_file(root))], cwd=ROOT)
        assert proc.returncode == 0, "the secrets file is not ignored by git"
    assert json.loads(secure.secrets_file(root).read_text())["users"]


def test_every_port_of_the_stack_listens_on_loopback_only():
    import re

    from devstack.engine import Stack

    stack = Stack("single")
    pids = {stack.pid(node.name) for node in stack.profile.nodes} - {None}
    assert pids, "no service of the stack is running"
    out = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True).stdout
    sockets = [
        line.split()[3] for line in out.splitlines() if any(f"pid={pid}," in line for pid in pids)
    ]  # local address:port of each listening socket of our services
    assert len(sockets) >= 7, sockets  # Kafka 3 (9092, 9093, controller), NameNode 2, DataNode 3+
    exposed = [s for s in sockets if not re.match(r"^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):\d+$", s)]
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_hdfs_enforces_permissions_for_another_user():
    import urllib.error
    import urllib.request

    url = f"{WEBHDFS}/webhdfs/v1/user/not-yours-{uuid.uuid4().hex[:6]}?op=MKDIRS&user.name=nobody"
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(urllib.request.Request(url, method="PUT"), timeout=10)
    assert denied.value.code == 403
    assert "Permission denied: user=nobody" in denied.value.read().decode()
