"""The stack scripts and the clients fail clearly and fast: real processes, real closed ports, no mocks."""

from __future__ import annotations

import os
import socket
import time

import pytest

from devstack import engine
from devstack.engine import Stack, StackError
from devstack.nodes import Check, Node, Profile, stack_dir
from include.connections import HdfsSettings
from include.hdfs.client import HdfsUnreachable, client
from include.kafka.admin import KafkaUnreachable, check_broker

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def scratch_stack(tmp_path, monkeypatch):
    """A STACK_DIR of its own (sharing the real jars), so these tests never touch the running stack."""
    real_jars = stack_dir() / "jars"
    (tmp_path / "jars").symlink_to(real_jars)
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    return tmp_path


def _stack(root, main_class: str, port: int) -> Stack:
    """A profile of one node, run by the real engine under its own supervisord in ``root``."""
    node = Node(
        name="probe",
        main_class=main_class,
        jars="kafka",
        ports=(port,),
        heap="64m",
        ready=Check("never", lambda: False),
        log=root / "logs" / "probe.log",
    )
    return Stack(Profile(name="probe", home=root, nodes=(node,), groups={}))


def test_a_port_taken_by_another_process_is_named_with_that_process(scratch_stack):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(StackError) as err:
            _stack(scratch_stack, "kafka.Kafka", port).up()
    assert f"port {port} is already taken by python" in str(err.value)
    assert f"pid {os.getpid()}" in str(err.value)


def test_a_service_that_dies_at_start_shows_its_log_and_path(scratch_stack):
    stack = _stack(scratch_stack, "no.such.MainClass", _free_port())
    try:
        with pytest.raises(StackError) as err:
            stack.up()
        message = str(err.value)
        assert "probe exited with code 1 while starting" in message
        assert str(scratch_stack / "logs" / "probe.out") in message
        assert "no.such.MainClass" in message  # the JVM's own words, from the log tail
        assert stack.pid("probe") is None
        assert stack.supervisor.pid() is None, "supervisord outlived the only node it had"
    finally:
        stack.down()


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(StackError, match="Java not found"):
        engine.java_bin()


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
    assert Stack("single").status() is True
    out = capsys.readouterr().out
    for name in ("kafka", "namenode", "datanode"):
        assert name in out
    assert "down" not in out
