"""Killing the task kills spark-submit's whole process tree, stopped children included.

spark-class runs its launcher JVM in a process substitution, a subshell of its own, before it execs the driver:
killing spark-submit's pid alone (what the provider does) leaves that subshell and the launcher behind. Here a
real tree of the same shape stands in for spark-submit: no Spark, so that the launcher's moment is not a race.
"""

from __future__ import annotations

import subprocess
import time

import psutil
import pytest

from plugins.kafka_spark_submit import KafkaSparkSubmitOperator


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def spark_like_tree():
    # bash reads the output of a subshell that runs a "launcher"; the launcher is then stopped (SIGSTOP)
    script = "while read -r line; do :; done < <(sleep 600; echo); sleep 600"
    proc = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    while not [p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() == "sleep"]:
        assert time.monotonic() < deadline, "the tree never started"
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    for child in children:
        if child.name() == "sleep":
            child.suspend()
    yield proc, children
    for child in [*children, psutil.Process(proc.pid)] if proc.poll() is None else children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def test_on_kill_kills_the_children_of_spark_submit_even_when_stopped(spark_like_tree, monkeypatch):
    proc, children = spark_like_tree
    assert len(children) >= 2  # the subshell and its stopped "launcher"
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_KILL_TEST", '{"conn_type": "spark", "host": "local[*]"}')
    operator = KafkaSparkSubmitOperator(task_id="submit", application="job.py", conn_id="spark_kill_test")
    operator._hook = operator._get_hook()
    operator._hook._submit_sp = proc

    operator.on_kill()

    proc.wait(10)
    assert proc.returncode is not None
    assert [c.pid for c in children if alive(c)] == []
