"""Peak resident memory (RSS) of processes while a stage runs, sampled every ~200 ms in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil

MB = 1024 * 1024


def spark_driver_jvm(root_pid: int) -> psutil.Process | None:
    """The driver JVM of a spark-submit process: spark-submit is a shell script that ends by exec-ing java with
    the main class org.apache.spark.deploy.SparkSubmit (in local mode the executors live in that same JVM)."""
    try:
        root = psutil.Process(root_pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                cmdline = proc.cmdline()
                # (spark-class first runs a short-lived launcher JVM, org.apache.spark.launcher.Main)
                if "org.apache.spark.deploy.SparkSubmit" in cmdline and "org.apache.spark.launcher.Main" not in cmdline:
                    return proc
            except psutil.Error:
                continue
    except psutil.Error:
        return None
    return None


class PeakRss:
    """Samples the RSS of the processes that ``targets()`` returns ({label: process}) until stopped.

    ``targets`` is called at each sample, so a process that starts later (the driver JVM) is picked up.
    """

    def __init__(self, targets: Callable[[], dict[str, psutil.Process | None]], interval_s: float = 0.2) -> None:
        self.targets, self.interval_s = targets, interval_s
        self.peak_mb: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for label, proc in self.targets().items():
                if proc is None:
                    continue
                try:
                    rss = proc.memory_info().rss / MB
                except psutil.Error:
                    continue
                self.peak_mb[label] = max(self.peak_mb.get(label, 0.0), rss)
            self.samples += 1
            self._stop.wait(self.interval_s)
