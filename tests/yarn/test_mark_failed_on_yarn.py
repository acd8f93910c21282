""" "Mark failed" of the running Spark task, as a user does it in the UI (PATCH of the task instance's state through
Airflow's REST API), under the real API server, scheduler and LocalExecutor (`make ui`), with spark_default on the
single profile's YARN: the task is killed, its on_kill has the ResourceManager kill the application, and the
ResourceManager reports it KILLED within seconds, in both deploy modes. Without it, the application would run on
(a client-mode driver killed alone ends its application SUCCEEDED; a cluster-mode driver does not die with
spark-submit)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from devstack import nodes, ui
from devstack.engine import port_owner
from include import yarn
from include.config import DEFAULT_PLAYERS_CSV
from tests.support.airflow_api import Airflow, unpause_window
from tests.support.spark import processes_naming
from tests.support.stack import ROOT

pytestmark = pytest.mark.yarn

MODES = ("client", "cluster")
DAG = "write_to_kafka"
TASK = "submit_write_job"
START_DEADLINE_S = 600  # the run queued, its first tasks, spark-submit, and YARN running the application
KILLED_WITHIN_S = 60  # "within seconds": the task runner's heartbeat sees the state, on_kill, the RM's kill


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def airflow_ui_on_yarn(mode: str) -> Iterator[str]:
    """`make ui SPARK_MASTER=yarn SPARK_DEPLOY_MODE=<mode>`: the UI's components with spark_default on the single
    profile's YARN (devstack/ui.py passes them this environment); stopped after. Its URL."""
    env = {**os.environ, **nodes.spark_on_yarn_env(mode), "SPARK_SUBMIT_OPTS": ""}
    if port_owner(ui.port()):  # another UI (main's `make ui`) has the port
        env["AIRFLOW__API__PORT"] = str(_free_port())
    saved = os.environ.get("AIRFLOW__API__PORT")
    os.environ["AIRFLOW__API__PORT"] = env.get("AIRFLOW__API__PORT", str(ui.port()))
    cli = [sys.executable, "-m", "devstack", "ui"]
    try:
        started = subprocess.run(
            [*cli, "start"], capture_output=True, text=True, timeout=ui.START_DEADLINE_S + 60, cwd=ROOT, env=env
        )
        assert started.returncode == 0, f"make ui failed:\n{started.stdout}\n{started.stderr}"
        try:
            yield ui.url()
        finally:
            stopped = subprocess.run([*cli, "stop"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
            assert stopped.returncode == 0, f"make ui-stop failed:\n{stopped.stdout}\n{stopped.stderr}"
    finally:
        if saved is None:
            os.environ.pop("AIRFLOW__API__PORT", None)
        else:
            os.environ["AIRFLOW__API__PORT"] = saved


def running_application(api: Airflow, run_id: str, rm: str) -> str | None:
    """The application the running task named in its log, once the ResourceManager runs it."""
    states = api.task_states(DAG, run_id)
    if states.get(TASK) != "running":
        assert states.get(TASK) in (None, "scheduled", "queued", "running"), api.explain(DAG, run_id)
        return None
    apps = re.findall(r"YARN application (application_\d+_\d+) \(ResourceManager", api.task_log(DAG, run_id, TASK))
    try:
        return apps[-1] if apps and yarn.app_state(rm, apps[-1]).state == "RUNNING" else None
    except yarn.YarnError:  # named while spark-submit uploads its files, before the ResourceManager has it
        return None


@pytest.mark.parametrize("mode", MODES)
def test_mark_failed_of_the_running_spark_task_kills_its_yarn_application(mode, single_yarn, target, unique):
    rm = nodes.single_yarn_rm_url()
    # a query that would run for 10 minutes: only the kill can end it in time
    conf = {
        "source_csv": str(DEFAULT_PLAYERS_CSV),
        **target,
        "trigger": "processingTime",
        "interval_seconds": 5,
        "run_seconds": 600,
    }
    run_id = f"yarn_mark_failed__{mode}__{unique}"
    with airflow_ui_on_yarn(mode) as base_url:
        api = Airflow.login(base_url, ui.USER, ui.read_password())
        with unpause_window(api, DAG, {run_id}):
            slot = api.due_slot(DAG)
            api.call(
                "POST",
                f"/dags/{DAG}/dagRuns",
                json={"dag_run_id": run_id, "logical_date": slot.isoformat() if slot else None, "conf": conf},
            )
            api.set_paused(DAG, False)
            deadline = time.monotonic() + START_DEADLINE_S
            while not (app := running_application(api, run_id, rm)):
                assert time.monotonic() < deadline, f"no application RUNNING after {START_DEADLINE_S}s"
                time.sleep(2)
            time.sleep(5)  # it writes: its executors and (cluster mode) its driver in their containers
            marked = time.monotonic()
            api.call("PATCH", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}", json={"new_state": "failed"})
            state = yarn.wait_ended(rm, app, KILLED_WITHIN_S, poll_s=0.2)
            killed_after = time.monotonic() - marked
            api.call("PATCH", f"/dags/{DAG}/dagRuns/{run_id}", json={"state": "failed", "note": "mark failed test"})
            deadline = time.monotonic() + 60
            while "ended: KILLED" not in (task_log := api.task_log(DAG, run_id, TASK)) and time.monotonic() < deadline:
                time.sleep(2)
    print(f"{mode} deploy mode: {app} {state.state}/{state.final_status} {killed_after:.1f}s after 'mark failed'")
    assert state.state == "KILLED", state
    assert f"YARN application {app} ended: KILLED" in task_log, task_log[-3000:]
    time.sleep(5)
    assert processes_naming(target["topic"]) == [], "a process of the job outlived its task"
