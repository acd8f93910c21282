"""make bench's yarn stage without a stack: what it selects, the environment its jobs run in (the same as `make run
SPARK_MASTER=yarn`), and the DAG's command on YARN."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def stack_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    monkeypatch.delenv("YARN_PORT_BASE", raising=False)
    return tmp_path


def test_the_bench_runs_its_yarn_jobs_in_that_environment_and_gives_its_own_back(stack_dir, monkeypatch):
    from bench.run import selected_stages
    from bench.stages import yarn

    assert selected_stages("yarn") == ["prepare", "write", "read", "yarn"]  # beside local[*], in the same run
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-XX:SharedArchiveFile=/x.jsa")
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", "local")
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    with yarn.spark_on_yarn("client"):
        assert "SPARK_SUBMIT_OPTS" not in os.environ
        assert json.loads(os.environ["AIRFLOW_CONN_SPARK_DEFAULT"])["host"] == "yarn"
        assert os.environ["HADOOP_CONF_DIR"] == str(stack_dir / "conf" / "hadoop-resourcemanager")
    assert os.environ["SPARK_SUBMIT_OPTS"] == "-XX:SharedArchiveFile=/x.jsa"
    assert os.environ["AIRFLOW_CONN_SPARK_DEFAULT"] == "local"
    assert "HADOOP_CONF_DIR" not in os.environ
    assert (yarn.suffix("client"), yarn.suffix("cluster")) == ("_yarn", "_yarn_cluster")


def test_the_dag_command_on_yarn_cluster_mode_lets_spark_submit_exit_as_the_operator_does(stack_dir, monkeypatch):
    from bench.stages import yarn
    from bench.stages.common import submit_command

    for mode, waits in (("client", None), ("cluster", "spark.yarn.submit.waitAppCompletion=false")):
        with yarn.spark_on_yarn(mode):
            command = submit_command("job.py", "name", ["--x"])
        assert command[command.index("--master") + 1] == "yarn"
        assert command[command.index("--deploy-mode") + 1] == mode
        assert (waits in command) if waits else not any("waitAppCompletion" in c for c in command)
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[*]"}))
    assert not any("waitAppCompletion" in c for c in submit_command("job.py", "name"))
