"""HDFS through WebHDFS: a client with deadlines, and small reads.

An unreachable NameNode fails fast with an error naming host and port.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from include.connections import HdfsSettings

log = logging.getLogger(__name__)
logging.getLogger("hdfs.client").setLevel(logging.WARNING)  # one INFO line per request otherwise

TIMEOUT_S = 30


class HdfsUnreachable(RuntimeError):
    """No NameNode answered."""


def client(settings: HdfsSettings):
    """An hdfs (HdfsCLI) client for the first NameNode that answers, with a timeout on every request."""
    from hdfs import InsecureClient
    from hdfs.util import HdfsError

    errors = []
    for host, url in zip(settings.namenodes, settings.webhdfs_urls, strict=True):
        try:
            with socket.create_connection((host, settings.http_port), timeout=5):
                pass
            candidate = InsecureClient(url, user=settings.user, timeout=TIMEOUT_S)
            candidate.status("/")
            return candidate
        except (OSError, HdfsError) as exc:
            errors.append(f"{host}:{settings.http_port} ({getattr(exc, 'strerror', None) or exc})")
    raise HdfsUnreachable(f"WebHDFS unreachable at {', '.join(errors)} - is HDFS running? (locally: 'make up')")


def read_bytes(hdfs, path: str) -> bytes:
    with hdfs.read(path) as reader:
        return reader.read()


@contextmanager
def read_lines(hdfs, path: str, buffer_bytes: int = 1 << 20) -> Iterator[Iterator[bytes]]:
    """A file's lines (bytes, each with its LF), streamed: a file of any size, a buffer in memory."""
    with hdfs.read(path) as raw:
        raw.auto_close = False  # urllib3 closes the response at its end, and a closed file can't say EOF
        yield io.BufferedReader(raw, buffer_bytes)


def read_json(hdfs, path: str) -> dict | None:
    """A small JSON file; None when it does not exist."""
    if hdfs.status(path, strict=False) is None:
        return None
    return json.loads(read_bytes(hdfs, path))


def write_json(hdfs, path: str, content: dict) -> None:
    """A small JSON file, whole or not at all: written under a temporary name, then renamed over the old one."""
    tmp = f"{path}.tmp"
    hdfs.write(tmp, data=json.dumps(content).encode(), overwrite=True)
    hdfs.delete(path)
    hdfs.rename(tmp, path)


def list_names(hdfs, directory: str) -> list[str]:
    """Names in ``directory`` (empty when it does not exist)."""
    if hdfs.status(directory, strict=False) is None:
        return []
    return hdfs.list(directory)


def file_system(settings: HdfsSettings):
    """An fsspec WebHDFS file system on the first NameNode that answers: seekable files (pyarrow reads a
    Parquet file's footer and row groups with ranged reads, never the whole file)."""
    from fsspec.implementations.webhdfs import WebHDFS

    answering = client(settings)  # names every NameNode tried when none answers
    host = answering.url.split("://", 1)[1].rsplit(":", 1)[0]
    return WebHDFS(host, port=settings.http_port, user=settings.user, skip_instance_cache=True)
