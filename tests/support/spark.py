"""Spark processes as a test sees them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


def spark_submit_jvms(marker: str) -> list[psutil.Process]:
    """The spark-submit driver JVMs whose command line contains ``marker`` (e.g. a test's unique topic)."""
    import psutil

    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "org.apache.spark.deploy.SparkSubmit" in cmd and marker in cmd:
            out.append(proc)
    return out
