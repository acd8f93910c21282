"""The stack scripts and the clients fail clearly and fast: real processes, real closed ports, no mocks."""

from __future__ import annotations

import os
import socket
import time

import pytest

from include.connections import HdfsSettings
from include.hdfs.client import HdfsUnreachable, client
from include.kafka.admin import KafkaUnreachable, check_broker
from include.stack import services

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def scratch_stack(tmp_path, monkeypatch):
    """A STACK_DIR of its own (sharing the real jars), so these tests never touch the running stack."""
    real_jars = services.stack_dir() / "jars"
    (tmp_path / "jars").symlink_to(real_jars)
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    return tmp_path


def _service(main_class: str, port: int) -> services.Service:
    return services.Service(
        name="probe",
        main_class=main_class,
        profile="kafka",
        ports=[port],
        log_name="probe.log",
        ready=lambda: False,
        ready_what="never",
        prepare=lambda: None,
    )


def test_a_port_taken_by_another_process_is_named_with_that_process(scratch_stack):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(services.StackError) as err:
            _service("kafka.Kafka", port).start()
    assert f"port {port} is already taken by python" in str(err.value)
    assert f"pid {os.getpid()}" in str(err.value)


def test_a_service_that_dies_at_start_shows_its_log_and_path(scratch_stack):
    with pytest.raises(services.StackError) as err:
        _service("no.such.MainClass", _free_port()).start()
    message = str(err.value)
    assert "probe exited with code 1 while starting" in message
    assert str(scratch_stack / "logs" / "probe.out") in message
    assert "no.such.MainClass" in message  # the JVM's own words, from the log tail
    assert not (scratch_stack / "run" / "probe.pid").exists()


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(services.StackError, match="Java not found"):
        services.java_bin()


def test_an_unreachable_broker_fails_fast_naming_host_and_port():
    port = _free_port()
    start = time.monotonic()
    with pytest.raises(KafkaUnreachable, match=f"localhost:{port}"):
        check_broker({"bootstrap.servers": f"localhost:{port}"}, timeout=5)
    assert time.monotonic() - start < 15


def test_an_unreachable_webhdfs_fails_fast_naming_host_and_port():
    port = _free_port()
    start = time.monotonic()
    with pytest.raises(HdfsUnreachable, match=f"localhost:{port}"):
        client(HdfsSettings(("localhost",), port, "nobody", "hdfs://localhost:8020"))
    assert time.monotonic() - start < 15


def test_status_reports_each_service_of_the_running_stack(stack, capsys):
    assert services.status() is True
    out = capsys.readouterr().out
    for name in ("kafka", "namenode", "datanode"):
        assert name in out
    assert "down" not in out
