"""Where the single-node stack is (the Makefile's ports, so a stack moved to other ports is tested the same way),
and the HDFS user the tests act as."""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = f"localhost:{os.environ.get('KAFKA_PORT', '9092')}"
WEBHDFS = f"http://localhost:{os.environ.get('NAMENODE_HTTP_PORT', '9870')}"
HDFS_URI = f"hdfs://localhost:{os.environ.get('NAMENODE_RPC_PORT', '8020')}"


def hdfs_user() -> str:
    return os.environ.get("HADOOP_USER_NAME") or os.environ.get("USER") or "root"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_listener(address: str, what: str) -> None:
    """Fail the test, saying how to fix it, when no broker listener answers at ``address`` (host:port)."""
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex((host, int(port))) != 0:
            import pytest

            pytest.fail(
                f"no {what} listener on {address}: the broker was started with SECURE=0 or before it existed "
                "- restart it: python -m devstack down kafka && make up"
            )
