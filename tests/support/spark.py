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


def processes_naming(marker: str) -> list[str]:
    """The command lines (first 200 characters) of every live process whose command line contains ``marker``."""
    import psutil

    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if marker in cmd:
            out.append(cmd[:200])
    return out


class DriverMonitor:
    """Samples the driver JVMs of ``marker`` every 0.1 s from a thread while the ``with`` block runs: the most
    that ran at one time, and every driver seen. Only the driver JVM counts, not what spark-class runs while
    it starts (its shell, the shell reading the launcher, the launcher JVM), nor what the driver forks."""

    def __init__(self, marker: str) -> None:
        import threading

        self.marker, self.most_at_once, self.seen = marker, 0, set()
        self.described: dict[int, str] = {}  # pid -> parent pid and command line, for a failing assertion
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.1):
            parents = {}
            for proc in spark_submit_jvms(self.marker):
                try:
                    cmd = proc.cmdline()
                    driver = cmd and cmd[0].endswith("java") and "org.apache.spark.launcher.Main" not in cmd
                    if driver and proc.status() != psutil.STATUS_ZOMBIE:
                        parents[proc.pid] = proc.ppid()
                        self.described.setdefault(proc.pid, f"ppid {proc.ppid()}: {' '.join(cmd)[:300]}")
                except psutil.NoSuchProcess:
                    pass
            # a driver starting its Python worker forks itself: until the child execs, it has the driver's command
            # line (seen under load); a child of a driver is not a second driver
            pids = {pid for pid, ppid in parents.items() if ppid not in parents}
            self.seen |= pids
            self.most_at_once = max(self.most_at_once, len(pids))

    def __enter__(self) -> DriverMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
