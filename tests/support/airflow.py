"""`airflow dags test` as `make run` runs it, in the foreground or in the background."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.support.stack import ROOT


def verification(output: str) -> dict:
    """What a run's verify task reported: the JSON after its first ``verification: `` line."""
    return json.JSONDecoder().raw_decode(output.split("verification: ", 1)[1])[0]


class DagRun:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float) -> None:
        self.returncode, self.output, self.seconds = proc.returncode, proc.stdout, seconds

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def task_states(self) -> dict[str, str]:
        """{task_id: state} of this run, from Airflow's own database (`airflow tasks states-for-dag-run`)."""
        match = re.search(r"DagRun Finished: dag_id=([^,]+), .*?run_id=([^,]+),", self.output)
        assert match, f"no finished DAG run in the output:\n{self.tail()}"
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "airflow"),
                "tasks",
                "states-for-dag-run",
                *match.groups(),
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = json.loads(proc.stdout[proc.stdout.index("[") :])
        return {row["task_id"]: row["state"] for row in rows}

    def tail(self, n: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def run_dag(dag_id: str, conf: dict, timeout_s: float = 600, env: dict | None = None) -> DagRun:
    """`airflow dags test <dag_id> --conf <json>`, as `make run` does; returns its exit code and output.
    ``env``: variables set for this run only (e.g. another connection)."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "--conf", json.dumps(conf)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    run = DagRun(
        subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout + proc.stderr), time.monotonic() - start
    )
    log_dir = ROOT / ".airflow" / "test-runs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{dag_id}-{int(time.time() * 1000)}.log").write_text(run.output)
    return run


class BackgroundDagRun:
    """`airflow dags test` started in the background. Its output goes to a file, not a pipe: a pipe nobody
    reads fills up and blocks the run."""

    def __init__(self, dag_id: str, conf: dict, env: dict | None = None) -> None:
        log_dir = ROOT / ".airflow" / "test-runs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"{dag_id}-{int(time.time() * 1000)}-bg.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "--conf", json.dumps(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
            )

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout_s: float = 600) -> DagRun:
        start = time.monotonic()
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        output = self.log.read_text(errors="replace")
        return DagRun(
            subprocess.CompletedProcess(self.proc.args, self.proc.returncode, output), time.monotonic() - start
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
