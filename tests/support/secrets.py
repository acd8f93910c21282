"""Where a secret could leak while a DAG runs, looked at from outside the project's code: every process's command
line and environment (sampled while the run goes), the task and service logs, and Airflow's XCom table."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from tests.support.stack import ROOT, require_listener

SPARK_SUBMIT = "org.apache.spark.deploy.SparkSubmit"
# a cluster-mode driver: its YARN container's JVM (the job's arguments follow it as --arg ...)
YARN_DRIVER = "org.apache.spark.deploy.yarn.ApplicationMaster"


def stack_passwords() -> dict[str, str]:
    """Every secret the local stack generated: the SCRAM users' passwords, the keystore's, the CA's and the mTLS
    client key's (from its 0600 secrets file)."""
    from devstack import secure
    from devstack.nodes import stack_dir

    data = secure.load_secrets(stack_dir())
    return {
        **{f"user {u}": p for u, p in data["users"].items()},
        **{k: data[k] for k in ("keystore_password", "ca_password", "mtls_key_password")},
    }


def secure_configs() -> dict[str, dict[str, str]]:
    """The secure listener's connections (admin, writer, reader) as confluent-kafka configs, from the local secrets
    backend; fails the test, saying how to fix it, when the broker has no SASL_SSL listener."""
    from devstack.secure import ADMIN_CONN_ID, READER_CONN_ID, WRITER_CONN_ID, secure_bootstrap, secure_connection

    require_listener(secure_bootstrap(), "SASL_SSL")
    return {conn_id: secure_connection(conn_id)["extra"] for conn_id in (ADMIN_CONN_ID, WRITER_CONN_ID, READER_CONN_ID)}


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))


class SecretSampler:
    """Every 100 ms: every process's command line (``ps -eo args``) and environment, checked for secrets."""

    def __init__(self, secrets: dict[str, str], job_marker: str) -> None:
        self.secrets = secrets
        self.job_marker = job_marker  # in our spark-submit's command line (its topic), not in other users' jobs
        self.samples = 0
        self.spark_seen = 0  # samples taken while a spark-submit JVM ran (from /proc/*/cmdline)
        self.ps_spark_seen = 0  # the same, as ps showed it
        self.yarn_driver_seen = 0  # samples taken while a cluster-mode driver of the job ran in a YARN container
        self.longest_ps_line = 0
        self.timeline: list[tuple[float, float, bool]] = []  # (start, seconds, spark-submit running)
        self.leaks: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SecretSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _check(self, where: str, text: str) -> None:
        for name, value in self.secrets.items():
            if value in text:
                self.leaks.append(f"{name} in {where}")

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            # -ww: unlimited width (without it, ps cuts lines at $COLUMNS when that is set, as under pytest)
            args = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
            self.samples += 1
            self.ps_spark_seen += any(SPARK_SUBMIT in line and self.job_marker in line for line in args.splitlines())
            self.longest_ps_line = max(self.longest_ps_line, *(len(line) for line in args.splitlines()))
            self._check("ps -eo args", args)
            spark = yarn_driver = False
            for proc in Path("/proc").glob("[0-9]*"):
                for part in ("cmdline", "environ"):  # what ps shows, unabridged; and every environment
                    try:
                        text = (proc / part).read_bytes().decode(errors="replace")
                    except OSError:
                        continue
                    ours = part == "cmdline" and self.job_marker in text
                    spark = spark or (ours and SPARK_SUBMIT in text)
                    yarn_driver = yarn_driver or (ours and YARN_DRIVER in text)
                    self._check(f"{proc}/{part}", text)
            self.spark_seen += spark
            self.yarn_driver_seen += yarn_driver
            self.timeline.append((start, time.monotonic() - start, spark))
            self._stop.wait(0.1)


def scan_logs(secrets: dict[str, str], since: float, extra: list[Path]) -> tuple[int, list[str]]:
    """Every task log written since ``since`` (and the ``extra`` files): (files scanned, leaks found)."""
    logs = airflow_home() / "logs"
    files = [p for p in logs.rglob("*") if p.is_file() and p.stat().st_mtime >= since] + extra
    leaks = []
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        leaks += [f"{name} in {path}" for name, value in secrets.items() if value in text]
    return len(files), leaks


def xcom_leaks(secrets: dict[str, str], dag_id: str = "write_to_kafka") -> tuple[int, list[str]]:
    """Every XCom Airflow's database holds (this run's among them): (values scanned, leaks found)."""
    database = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{airflow_home()}/airflow.db")
    assert database.startswith("sqlite:///"), database
    with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
        values = [str(row[0]) for row in db.execute("SELECT value FROM xcom WHERE dag_id = ?", (dag_id,))]
    return len(values), [name for name, secret in secrets.items() for v in values if secret in v]
