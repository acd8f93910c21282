"""A secured Kafka end to end on YARN, in cluster deploy mode: both DAGs, unchanged, through the SASL_SSL listener
(SCRAM-SHA-512, ACLs; the writer's and the reader's connections from the secrets backend), with their drivers in
YARN containers. The Kafka client config (the JAAS line with the password, the CA) reaches each driver in the
0600 file the operator ships with --files, and the secret is nowhere else: in no process's argv or environment
(every process sampled every 100 ms while the runs go: spark-submit, the driver's container, Airflow), in no task
log, no NodeManager container log, no stack log, and not on the driver's Spark environment page that the YARN UI
links (read through the ResourceManager's proxy while each application runs). Verified as usual: the DAGs' own
verify tasks, and an independent plain consumer and pyarrow on the archive."""

from __future__ import annotations

import time

import pytest

from devstack import nodes
from devstack.secure import ADMIN_CONN_ID, READER_CONN_ID, WRITER_CONN_ID
from include import yarn
from include.config import DEFAULT_PLAYERS_CSV, SPARK_CONF
from include.plans import checkpoint_for
from tests.support.airflow import BackgroundDagRun, DagRun
from tests.support.archive import archive_rows
from tests.support.data import PLAYERS
from tests.support.kafka import consume_all, write_target
from tests.support.secrets import SecretSampler, scan_logs, secure_configs, stack_passwords
from tests.support.stack import hdfs_user
from tests.support.yarn import (
    ENVIRONMENT_PAGE,
    applications,
    container_logs,
    is_spark_environment,
    running_application,
    yarn_ui_pages,
)

pytestmark = pytest.mark.yarn

RUN_TIMEOUT_S = 900
# processingTime for 20 s: each application runs long enough to read its driver's pages while it runs
TIMED = {"trigger": "processingTime", "interval_seconds": 5, "run_seconds": 20}


@pytest.fixture
def configs(stack):
    return secure_configs()


@pytest.fixture
def write_topic(unique, configs, cleanup_hdfs):
    yield from write_target(f"secure-yarn-{unique}", configs[ADMIN_CONN_ID], cleanup_hdfs)


@pytest.fixture
def read_topic(unique, configs, cleanup_hdfs):
    yield from write_target(f"secure-yarn-read-{unique}", configs[ADMIN_CONN_ID], cleanup_hdfs)


def run_watching(dag_id: str, conf: dict, env: dict, rm: str) -> tuple[DagRun, dict[str, dict[str, str]]]:
    """The DAG run in the background; while it goes, what the YARN UI shows of each application it runs (read
    once the ResourceManager runs it, and again until the driver's environment page answers): (the run,
    {application: {what: text}})."""
    started = time.monotonic()
    bg = BackgroundDagRun(dag_id, conf, env=env)
    seen: dict[str, dict[str, str]] = {}
    last: dict[str, float] = {}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while bg.running() and time.monotonic() < deadline:
            app = running_application(bg, rm)
            served = is_spark_environment(seen.get(app, {}).get(ENVIRONMENT_PAGE, ""))
            if app and not served and time.monotonic() - last.get(app, 0) > 5:  # again every 5 s until served
                last[app] = time.monotonic()
                pages = yarn_ui_pages(rm, app)
                if app not in seen or is_spark_environment(pages[ENVIRONMENT_PAGE]):
                    seen[app] = pages
            time.sleep(0.5)
        run = bg.wait(60)
        run.seconds = time.monotonic() - started  # the whole run, not the wait for its end
        return run, seen
    finally:
        bg.kill()


def test_a_secured_kafka_on_yarn_cluster_mode_reaches_the_drivers_and_the_secret_is_nowhere_else(
    single_yarn, configs, write_topic, read_topic, hdfs, cleanup_hdfs, tmp_path
):
    rm = nodes.single_yarn_rm_url()
    # what `make run SPARK_MASTER=yarn SPARK_DEPLOY_MODE=cluster` sets (no local CDS archive: see spark_on_yarn_env)
    env = {**nodes.spark_on_yarn_env("cluster"), "SPARK_SUBMIT_OPTS": ""}
    passwords = stack_passwords()
    since = time.time() - 1
    write_conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **write_topic,
        **TIMED,
        "kafka_conn_id": WRITER_CONN_ID,
        "kafka_admin_conn_id": ADMIN_CONN_ID,
    }
    output_dir = f"{read_topic['hdfs_dir'].rsplit('/', 1)[0]}/archive"
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", read_topic["topic"], output_dir))
    messages = [f"secure message {i} on YARN ñ" for i in range(20)]
    read_conf = {
        "topic": read_topic["topic"],
        "messages": messages,
        "output_dir": output_dir,
        **TIMED,
        "kafka_conn_id": READER_CONN_ID,
        "kafka_admin_conn_id": ADMIN_CONN_ID,
    }
    started = time.monotonic()
    with SecretSampler(passwords, job_marker="secure-yarn-") as sampler:
        write, write_pages = run_watching("write_to_kafka", write_conf, env, rm)
        write_spark, write_drivers = sampler.spark_seen, sampler.yarn_driver_seen
        read, read_pages = run_watching("read_from_kafka", read_conf, env, rm)
    print(
        f"write {write.seconds:.0f}s, read {read.seconds:.0f}s on YARN (cluster mode), "
        f"{time.monotonic() - started:.0f}s in all; sampler: {sampler.samples} samples, spark-submit seen in "
        f"{sampler.spark_seen}, a driver container in {sampler.yarn_driver_seen}"
    )

    # both runs succeeded as their DAGs check them, as the writer and the reader over SASL_SSL, in cluster mode
    for run, principal in ((write, "User:writer"), (read, "User:reader")):
        assert run.ok, run.tail(150)
        assert all(state == "success" for state in run.task_states().values()), run.task_states()
        assert f"Kafka as {principal} over SASL_SSL" in run.output
        assert "--deploy-mode cluster" in run.output
    [write_app], [read_app] = applications(write.output), applications(read.output)
    for app in (write_app, read_app):
        state = yarn.app_state(rm, app)
        assert (state.state, state.final_status) == ("FINISHED", "SUCCEEDED"), state
    # an independent consumer (the plaintext listener) and pyarrow on the archive
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(write_topic["topic"], 120)}
    assert arrived == set(PLAYERS)
    in_topic = {(p, o, v) for _, v, p, o in consume_all(read_topic["topic"], 120)}
    archived = [(p, o, v) for p, o, _k, v, _h, _d in archive_rows(hdfs, output_dir, tmp_path / "archive")]
    assert len(archived) == len(set(archived)) and set(archived) == in_topic
    assert sorted(v.decode() for _, _, v in archived) == sorted(messages)

    # the secret in no argv and no environment, of any process, while the runs went (the drivers' containers too)
    assert write_spark > 0 and sampler.spark_seen > write_spark, "the sampler never saw a spark-submit"
    assert write_drivers > 0 and sampler.yarn_driver_seen > write_drivers, "the sampler never saw a driver container"
    assert not sampler.leaks, sorted(set(sampler.leaks))
    # nor in what the YARN UI shows of each application while it ran: the driver's Spark environment page through
    # the ResourceManager's proxy (the DAGs' SPARK_CONF turns the driver's UI off, spark.ui.enabled=false: then the
    # proxy has no such page to serve, and that is checked too), the ResourceManager's pages of the application
    assert set(write_pages) == {write_app} and set(read_pages) == {read_app}, (write_pages.keys(), read_pages.keys())
    ui_on = SPARK_CONF.get("spark.ui.enabled", "true") != "false"
    for app, pages in {**write_pages, **read_pages}.items():
        environment = pages[ENVIRONMENT_PAGE]
        if ui_on:
            assert is_spark_environment(environment) and "kafka-client.json" in environment, environment[:800]
        else:
            assert not is_spark_environment(environment), f"{app}: a driver without a UI served {environment[:300]}"
        assert app in pages["resourcemanager REST app"], pages["resourcemanager REST app"][:300]
        leaked = [(what, name) for what, text in pages.items() for name, secret in passwords.items() if secret in text]
        assert not leaked, f"{app}: {leaked}"
        print(f"{app}: the proxy answered {' '.join(environment.split())[:160]!r}")
    # nor in any log: the runs' task logs, the drivers' and executors' container logs, the stack's daemons' logs
    yarn_data = single_yarn.profile.data_dir / "yarn"
    containers = {app: container_logs(yarn_data, app) for app in (write_app, read_app)}
    assert all(containers.values()), {app: len(logs) for app, logs in containers.items()}
    driver_output = "".join(p.read_text(errors="replace") for p in containers[write_app])
    assert "write_to_kafka done:" in driver_output, "the write job's own output is not in its containers' logs"
    logs_dir = single_yarn.profile.logs_dir
    stack_logs = [*logs_dir.glob("*.log"), *logs_dir.glob("*.out")]
    scanned, leaks = scan_logs(passwords, since, [*containers[write_app], *containers[read_app], *stack_logs])
    assert scanned >= 10, scanned
    print(f"logs scanned: {scanned}, of which {sum(map(len, containers.values()))} container logs")
    assert not leaks, leaks
    for run in (write, read):
        assert not [name for name, secret in passwords.items() if secret in run.output], "a secret in a task log"
    # and the shipped file is gone with its application (the private staging folder on HDFS)
    for app in (write_app, read_app):
        assert hdfs.status(f"/user/{hdfs_user()}/.sparkStaging/{app}", strict=False) is None
