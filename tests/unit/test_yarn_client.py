"""include/yarn.py without a ResourceManager: what it reads from spark-submit's output and from a connection, and
the error that names an unreachable ResourceManager (a real refused port)."""

from __future__ import annotations

import socket

import pytest

from include import yarn


def test_the_application_id_is_found_in_spark_submits_yarn_client_lines():
    line = "25/12/03 08:00:01 INFO Client: Submitted application application_1764748800123_0007"
    assert yarn.application_id(line) == "application_1764748800123_0007"
    assert yarn.application_id("INFO Client: Application report for application_1_2 (state: ACCEPTED)") == (
        "application_1_2"
    )
    assert yarn.application_id("INFO SparkContext: Running Spark version 4.2.0") is None
    assert yarn.application_id("spark.yarn.application_tags=x") is None


def test_the_resourcemanager_address_comes_from_the_connections_extra():
    assert yarn.rm_url({"yarn_resourcemanager_webapp_address": "rm:8088"}) == "http://rm:8088"
    assert yarn.rm_url({"yarn_resourcemanager_webapp_address": "https://rm:8090/"}) == "https://rm:8090"
    with pytest.raises(yarn.YarnError, match="yarn_resourcemanager_webapp_address"):
        yarn.rm_url({"deploy-mode": "cluster"})
    assert yarn.is_yarn("yarn") and not yarn.is_yarn("spark://localhost:7077") and not yarn.is_yarn(None)


def test_an_unreachable_resourcemanager_is_named_with_host_and_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: refused
    with pytest.raises(yarn.YarnError, match=rf"ResourceManager http://127.0.0.1:{port} unreachable"):
        yarn.kill(f"http://127.0.0.1:{port}", "application_1_1", deadline_s=1)


def test_the_operator_notes_the_application_id_in_client_mode_too(monkeypatch):
    from plugins.kafka_spark_submit import KafkaSparkSubmitOperator

    extra = '"extra": {"deploy-mode": "client", "yarn_resourcemanager_webapp_address": "localhost:28088"}'
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_YARN_TEST", f'{{"conn_type": "spark", "host": "yarn", {extra}}}')
    operator = KafkaSparkSubmitOperator(task_id="submit", application="job.py", conn_id="spark_yarn_test")
    assert operator._spark_connection() == (
        "yarn",
        "client",
        {"deploy-mode": "client", "yarn_resourcemanager_webapp_address": "localhost:28088"},
    )
    hook = operator._get_hook()
    hook._process_spark_submit_log(
        iter(
            [
                "INFO Client: Requesting a new application from cluster with 2 NodeManagers\n",
                "INFO YarnClientImpl: Submitted application application_1796285237414_0042\n",
                "INFO Client: Application report for application_1796285237414_0042 (state: ACCEPTED)\n",
            ]
        )
    )
    assert operator.yarn_application_id == "application_1796285237414_0042"
    assert hook._yarn_application_id is None  # the provider notes it in cluster mode only


def test_a_killed_task_whose_resourcemanager_is_unreachable_still_kills_spark_submit(monkeypatch, capsys):
    import subprocess

    from plugins.kafka_spark_submit import KafkaSparkSubmitOperator

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    extra = f'"extra": {{"deploy-mode": "client", "yarn_resourcemanager_webapp_address": "127.0.0.1:{port}"}}'
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_YARN_TEST", f'{{"conn_type": "spark", "host": "yarn", {extra}}}')
    operator = KafkaSparkSubmitOperator(task_id="submit", application="job.py", conn_id="spark_yarn_test")
    operator._yarn_rm = yarn.rm_url(operator._spark_connection()[2])
    operator._hook = operator._get_hook()
    operator._hook._submit_sp = subprocess.Popen(["sleep", "600"])
    operator.yarn_application_id = "application_1_1"

    operator.on_kill()

    assert operator._hook._submit_sp.wait(10) is not None
    assert f"ResourceManager http://127.0.0.1:{port} unreachable" in capsys.readouterr().out


def test_the_error_lines_of_a_drivers_log_leave_the_stack_frames_out():
    log = """2026-12-03 08:54:50,001 INFO jobs: starting
Traceback (most recent call last):
py4j.protocol.Py4JJavaError: An error occurred while calling o108.start.
: com.fasterxml.jackson.core.JsonParseException: Unrecognized token 'not'
	at org.apache.spark.sql.execution.streaming.StreamMetadata$.read(StreamMetadata.scala:60)
	... 12 more
2026-12-03 08:54:51,017 INFO py4j.clientserver: Closing down clientserver connection
"""
    assert yarn.error_lines(log) == [
        "Traceback (most recent call last):",
        "py4j.protocol.Py4JJavaError: An error occurred while calling o108.start.",
        ": com.fasterxml.jackson.core.JsonParseException: Unrecognized token 'not'",
    ]
