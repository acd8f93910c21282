"""The DAGs, unchanged, on the cluster's YARN (a ResourceManager and two NodeManagers on the cluster's HDFS), in
both deploy modes, chosen by the spark_default connection alone; and the failures users of SparkSubmitOperator on
YARN hit: a timed-out task leaves its application running, a failed cluster-mode application goes unnoticed, a lost
node loses rows. Real processes and the ResourceManager's own REST API; an independent consumer (plain
confluent-kafka) and DuckDB/pyarrow on the archive to check; no mocks."""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest

from devstack import health, nodes
from devstack.engine import Stack
from include import yarn
from include.config import DEFAULT_PLAYERS_CSV
from include.plans import checkpoint_for
from tests.support.airflow import BackgroundDagRun, run_dag, verification
from tests.support.archive import archive_rows
from tests.support.cluster import BOOTSTRAP, big_csv, busiest, high_watermarks, wait_for
from tests.support.kafka import consume_all, new_read_target
from tests.support.spark import processes_naming
from tests.support.stack import hdfs_user
from tests.support.yarn import applications, container_logs
from tests.support.yarn import running_application as running_yarn_application

CLUSTER = Stack("cluster")
RM = nodes.YARN_RM_WEBAPP_URL
MODES = ("client", "cluster")

pytestmark = pytest.mark.cluster


def on_yarn(mode: str, **more: str) -> dict[str, str]:
    """What `make run PROFILE=cluster SPARK_MASTER=yarn SPARK_DEPLOY_MODE=<mode>` sets: the connection, and the
    cluster's client configuration. The DAG files are the same."""
    return {**nodes.spark_on_yarn_env(mode, "cluster"), **more}


def running_application(bg: BackgroundDagRun) -> str | None:
    return running_yarn_application(bg, RM)


@pytest.mark.parametrize("mode", MODES)
def test_write_dag_runs_on_yarn_and_every_row_arrives(mode, target, tmp_path):
    rows = 5_000
    players = big_csv(tmp_path / "players.csv", rows)
    run = run_dag("write_to_kafka", {"source_csv": str(tmp_path / "players.csv"), **target}, 900, on_yarn(mode))
    print(f"write_to_kafka on YARN ({mode} deploy mode): {run.seconds:.0f}s")
    assert run.ok, run.tail(120)
    assert "--master yarn" in run.output and f"--deploy-mode {mode}" in run.output
    [app] = applications(run.output)
    state = yarn.app_state(RM, app)
    assert (state.state, state.final_status) == ("FINISHED", "SUCCEEDED"), state
    assert state.name.startswith("write_to_kafka")  # spark-submit's --name (client mode: the job's own, with the topic)
    if mode == "cluster":
        # the task followed the application through the ResourceManager, spark-submit having exited
        assert f"Tracking YARN application {app} via ResourceManager REST API" in run.output
        assert f"YARN application {app} status: FINISHED" in run.output
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"], 120, BOOTSTRAP)}
    assert arrived == set(players)
    checked = verification(run.output)
    assert checked["missing"] == 0 and checked["unexpected"] == 0 and checked["arrived_valid"] >= rows


@pytest.mark.parametrize("mode", MODES)
def test_read_dag_runs_on_yarn_and_archives_each_message_once(
    mode, unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, tmp_path
):
    topic = f"yarn-read-{unique}"
    output_dir, _ = new_read_target(topic, kafka_config, 2, 3, cleanup_topics, cleanup_hdfs)
    messages = [f"message {i} ñ" for i in range(50)]
    conf = {"topic": topic, "output_dir": output_dir, "messages": messages}
    run = run_dag("read_from_kafka", conf, 900, on_yarn(mode))
    print(f"read_from_kafka on YARN ({mode} deploy mode): {run.seconds:.0f}s")
    assert run.ok, run.tail(120)
    [app] = applications(run.output)
    assert yarn.app_state(RM, app).final_status == "SUCCEEDED"
    in_topic = {(p, o, v) for _, v, p, o in consume_all(topic, 120, BOOTSTRAP)}
    rows = archive_rows(hdfs, output_dir, tmp_path / "archive")
    archived = [(p, o, v) for p, o, _k, v, _h, _d in rows]
    assert len(archived) == len(set(archived)), "a message is in the archive twice"
    assert set(archived) == in_topic
    assert sorted(v.decode() for _, _, v in archived) == sorted(messages)


def _stop_driver(marker: str) -> list[int]:
    """SIGSTOP the JVMs and Pythons whose command line names ``marker`` (the job's topic), Airflow's own excepted:
    the driver, wherever it runs (spark-submit here in client mode, the ApplicationMaster and its Python in a YARN
    container in cluster mode)."""
    stopped = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and "airflow" not in cmdline and proc.info["name"] in ("java", "python", "python3"):
            try:
                proc.suspend()
                stopped.append(proc.pid)
            except psutil.NoSuchProcess:
                pass
    return stopped


@pytest.mark.parametrize("mode", MODES)
def test_a_timed_out_task_kills_its_yarn_application(mode, target):
    # planned to end in time (validate_params checks run_seconds against the timeout), made to hang by stopping
    # its driver once YARN runs it; retries=1: both attempts hang and are killed
    conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **target,
        "trigger": "processingTime",
        "interval_seconds": 5,
        "run_seconds": 5,
    }
    bg = BackgroundDagRun("write_to_kafka", conf, env=on_yarn(mode, SPARK_JOB_TIMEOUT_MINUTES="2.1"))
    stopped: dict[str, list[int]] = {}
    try:
        while bg.running():
            app = running_application(bg)
            if app and app not in stopped:
                time.sleep(3)  # the driver in its container too
                stopped[app] = _stop_driver(target["topic"])
            time.sleep(0.5)
        result = bg.wait(60)
    finally:
        bg.kill()
    output = result.output
    assert result.returncode != 0
    assert "Timeout" in output, output[-5000:]
    assert stopped, "no application ever ran"
    for app, pids in stopped.items():
        state = yarn.app_state(RM, app)
        assert pids, f"nothing of {app} was found to stop"
        assert state.state == "KILLED", (app, state)
        # within seconds of the timeout: the task itself waited (30 s at most) for the ResourceManager's KILLED
        assert f"YARN application {app} ended: KILLED" in output
    time.sleep(5)
    leftovers = processes_naming(target["topic"])
    assert leftovers == [], f"processes left behind: {leftovers}"


def test_a_failed_cluster_mode_application_fails_the_task_with_yarns_diagnostics(target, hdfs):
    # a checkpoint whose metadata is not Spark's: the query fails at start, in every attempt
    checkpoint = checkpoint_for(hdfs_user(), "write_to_kafka", target["topic"], target["hdfs_dir"])
    hdfs.write(f"{checkpoint}/metadata", data=b"not a checkpoint", overwrite=True)
    run = run_dag("write_to_kafka", {"source_csv": str(DEFAULT_PLAYERS_CSV), **target}, 900, on_yarn("cluster"))
    print(f"failed twice on YARN in {run.seconds:.0f}s")
    assert not run.ok
    apps = applications(run.output)
    assert len(apps) == 2, apps  # the first attempt and its retry, one after the other
    for app in apps:
        state = yarn.app_state(RM, app)
        assert state.final_status == "FAILED", state
        assert f"YARN application {app} ended with" in run.output
    assert "Diagnostics:" in run.output, run.tail(120)
    # and the driver's own output, from its container: why it failed
    assert "driver's stdout (YARN application" in run.output
    assert "JsonParseException" in run.output.split("driver's stdout", 1)[1], run.tail(120)


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.NoSuchProcess:  # a container process that ended meanwhile (a launch script, a short JVM)
        return ""


def _nm_containers(n: int) -> list[psutil.Process]:
    """The container processes a NodeManager started (its children: bash launch scripts and their JVMs)."""
    return psutil.Process(CLUSTER.pid(f"yarn-nodemanager-{n}")).children(recursive=True)


def test_a_nodemanager_killed_mid_write_the_job_completes_on_the_other_node(target, tmp_path):
    # enough rows that the write outlasts the second executor's start: with 600,000 (about a second's writing on
    # YARN) the job could end before its executor on the second NodeManager registered
    rows = 2_000_000
    players = big_csv(tmp_path / "big.csv", rows)
    bg = BackgroundDagRun("write_to_kafka", {"source_csv": str(tmp_path / "big.csv"), **target}, env=on_yarn("client"))

    try:
        wait_for(
            lambda: all(
                any("YarnCoarseGrainedExecutorBackend" in _cmdline(p) for p in _nm_containers(n))
                for n in nodes.YARN_NODEMANAGERS
            ),
            "an executor on each NodeManager",
            300,
            bg.running,
        )
        wait_for(lambda: high_watermarks(target["topic"]).get(0, 0) > 0, "the job to start writing", 300, bg.running)
        lost = busiest(
            {
                n: [p for p in _nm_containers(n) if "YarnCoarseGrainedExecutorBackend" in _cmdline(p)]
                for n in nodes.YARN_NODEMANAGERS
            }
        )
        killed_at = high_watermarks(target["topic"]).get(0, 0)
        # the node is lost: its NodeManager and every container it runs
        victims = [psutil.Process(CLUSTER.pid(f"yarn-nodemanager-{lost}")), *_nm_containers(lost)]
        for proc in victims:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        result = bg.wait(900)
    finally:
        bg.kill()
    output = result.output
    print(f"killed yarn-nodemanager-{lost} and {len(victims) - 1} container process(es) after {killed_at} rows")
    assert killed_at < rows, "the node died after the write: nothing was tested"
    assert result.returncode == 0, output[-8000:]
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"], 180, BOOTSTRAP)}
    assert arrived == set(players)
    assert verification(output)["missing"] == 0
    # the ResourceManager counted the lost node LOST (yarn.nm.liveness-monitor.expiry-interval-ms)
    lost_id = f"localhost:{nodes.YARN_NODEMANAGERS[lost][0]}"
    wait_for(
        lambda: (
            health.yarn_nodes(nodes.YARN_RM_PORTS["webapp"]).get(lost_id) == "LOST"
            or health.http_json(f"{RM}/ws/v1/cluster/metrics")["clusterMetrics"]["lostNodes"] >= 1
        ),
        f"the ResourceManager to count {lost_id} LOST",
        60,
    )


def test_a_retry_never_runs_beside_its_predecessor_even_when_the_task_died_without_on_kill(target, tmp_path):
    # the task runner (the `airflow dags test` process, which runs the task in process) is killed -9 while its
    # cluster-mode application writes: no on_kill, the application runs on in YARN. Its driver sees the lease's
    # heartbeat stop and ends its application; the next run takes the lease over only then
    ttl = 5
    env = on_yarn("cluster", LEASE_TTL_SECONDS=str(ttl))
    conf = {"source_csv": str(tmp_path / "big.csv"), **target}
    players = big_csv(tmp_path / "big.csv", 2_000_000)

    bg = BackgroundDagRun("write_to_kafka", conf, env=env)
    try:
        wait_for(lambda: running_application(bg), "the first application to run", 300, bg.running)
        first = running_application(bg)
        wait_for(lambda: high_watermarks(target["topic"]).get(0, 0) > 0, "the first one to write", 300, bg.running)
        os.kill(bg.proc.pid, signal.SIGKILL)
        killed = time.time()
        retry = run_dag("write_to_kafka", conf, 900, env)
    finally:
        bg.kill()
    assert retry.ok, retry.tail(120)
    [second] = applications(retry.output)
    assert second != first
    apps = {
        a["id"]: a
        for a in (health.http_json(f"{RM}/ws/v1/cluster/apps").get("apps") or {}).get("app") or []
        if a["id"] in (first, second)
    }
    ended, started = apps[first]["finishedTime"] / 1000, apps[second]["startedTime"] / 1000
    print(
        f"first application {first} {apps[first]['state']}/{apps[first]['finalStatus']} "
        f"{ended - killed:.1f}s after its task died; the retry's {second} started {started - ended:.1f}s later"
    )
    assert apps[first]["state"] in ("FINISHED", "FAILED", "KILLED")
    assert ended <= started, "the retry's application ran beside its predecessor"
    assert "took over stale lease" in retry.output or "waiting" in retry.output, retry.tail(120)
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"], 300, BOOTSTRAP)}
    assert arrived == set(players)


CLIENT_FILE_PROBE = """
import sys
from pyspark.sql import SparkSession
from jobs.streaming import kafka_client_options

spark = SparkSession.builder.getOrCreate()  # a cluster-mode ApplicationMaster waits for the driver's context

options = kafka_client_options(sys.argv[1])  # refuses a file others may read
print("kafka client options in the driver:", sorted(options), "secret-" in options.get("kafka.sasl.jaas.config", ""))
spark.stop()
"""


def test_in_cluster_mode_the_kafka_client_file_reaches_the_driver_private_and_never_in_argv_or_logs(tmp_path):
    """The operator's cluster-mode shipping (--files <0600 file>#kafka-client.json, --kafka-client-config
    kafka-client.json), with spark-submit and the jobs' own reader in a real YARN container: the file arrives
    readable by its user only (the reader refuses anything else), and the secret is in no argv and no log."""
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    from include.kafka.security import private_client_file
    from include.spark_app import jobs_archive
    from plugins.kafka_spark_submit import SHIPPED_CLIENT_FILE

    secret = f"secret-{uuid.uuid4().hex}"
    options = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="w" password="{secret}";',
    }
    probe = tmp_path / "probe.py"
    probe.write_text(CLIENT_FILE_PROBE)
    with private_client_file(options) as path:
        cmd = [
            str(Path(sys.executable).parent / "spark-submit"),
            *("--master", "yarn", "--deploy-mode", "cluster", "--name", "client-file-probe"),
            *("--py-files", str(jobs_archive()), "--files", f"{path}#{SHIPPED_CLIENT_FILE}"),
            *("--conf", "spark.yarn.submit.waitAppCompletion=true"),
            str(probe),
            SHIPPED_CLIENT_FILE,
        ]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "HADOOP_CONF_DIR": str(nodes.yarn_conf_dir())},
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert secret not in " ".join(cmd) and secret not in output
    [app] = list(dict.fromkeys(re.findall(r"application_\d+_\d+", output)))
    assert yarn.app_state(RM, app).final_status == "SUCCEEDED"
    logs = container_logs(CLUSTER.profile.data_dir / "yarn", app)
    assert logs, f"no container logs of {app}"
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "kafka client options in the driver: ['kafka.sasl.jaas.config', 'kafka.sasl.mechanism', " in text
    assert "True" in text.split("kafka client options in the driver:", 1)[1].splitlines()[0]
    assert secret not in text, "the secret is in a container's log"
