"""Airflow's REST API (/api/v2) as the tests drive it under `make ui`: a small client with a JWT from
POST /auth/token, and a window in which a DAG is unpaused for a test's own run only."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import requests

log = logging.getLogger(__name__)

IDLE_DEADLINE_S = 300  # other runs of the DAG in the UI (e.g. started by hand) must end first


class Airflow:
    """A small client for Airflow's REST API (/api/v2) with a JWT from POST /auth/token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> Airflow:
        resp = requests.post(f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30)
        assert resp.status_code in (200, 201), f"POST /auth/token: {resp.status_code} {resp.text[:300]}"
        return cls(base_url, resp.json()["access_token"])

    def call(self, method: str, path: str, **kwargs) -> dict:
        resp = self.http.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        return resp.json() if resp.content else {}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        assert self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})["is_paused"] is paused

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def active_runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})["dag_runs"]

    def due_slot(self, dag_id: str) -> datetime | None:
        """The logical date of the scheduled run that unpausing would create now, unless a run already has it."""
        dag = self.call("GET", f"/dags/{dag_id}")
        if not dag["next_dagrun_run_after"] or _when(dag["next_dagrun_run_after"]) > datetime.now(UTC):
            return None
        slot = dag["next_dagrun_logical_date"]
        taken = self.call("GET", f"/dags/{dag_id}/dagRuns", params={"logical_date_gte": slot, "logical_date_lte": slot})
        return None if taken["total_entries"] else _when(slot)

    def running_job(self, job_type: str) -> int:
        """The id of the one live job of that type (the component `make ui` started; a killed one may still say
        running, but it no longer heartbeats)."""
        jobs = self.call("GET", "/jobs", params={"job_type": job_type, "job_state": "running"})["jobs"]
        now = datetime.now(UTC)
        live = [
            j["id"] for j in jobs if j["latest_heartbeat"] and (now - _when(j["latest_heartbeat"])).total_seconds() < 60
        ]
        assert len(live) == 1, f"expected one live {job_type}, found {jobs}"
        return live[0]

    def wait_for_run(self, dag_id: str, run_id: str, deadline_s: float) -> dict:
        deadline = time.monotonic() + deadline_s
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in ("success", "failed") or time.monotonic() > deadline:
                return run
            time.sleep(5)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int | None = None) -> str:
        """The task's log (its latest try by default) as text, trigger part included."""
        if try_number is None:
            try_number = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")["try_number"]
        body = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        content = body.get("content", [])
        return "\n".join(e.get("event", "") if isinstance(e, dict) else str(e) for e in content)

    def explain(self, dag_id: str, run_id: str) -> str:
        """Task states and the end of each failed task's log, for an assertion message."""
        states = self.task_states(dag_id, run_id)
        out = [f"{dag_id} {run_id}: {states}"]
        for task_id, state in states.items():
            if state in ("failed", "up_for_retry"):
                out.append(f"--- {task_id}:\n" + "\n".join(self.task_log(dag_id, run_id, task_id).splitlines()[-40:]))
        return "\n".join(out)


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@contextmanager
def unpause_window(api: Airflow, dag_id: str, mine: set[str]) -> Iterator[None]:
    """Paused before and after; in between the test unpauses the DAG (through the UI or the API) for its run.

    Before: wait until no other run of the DAG is queued or running (one started by hand in the UI), so that
    ours is the only one the scheduler starts. After: pause, and remove the runs the
    scheduler created meanwhile (a schedule slot that became due, an asset event): queued ones are deleted,
    running ones are marked failed (the scheduler does not advance runs of a paused DAG).
    """
    api.set_paused(dag_id, True)
    deadline = time.monotonic() + IDLE_DEADLINE_S
    while others := [r["dag_run_id"] for r in api.active_runs(dag_id)]:
        assert time.monotonic() < deadline, (
            f"{dag_id} still has active runs {others} after {IDLE_DEADLINE_S}s; unpausing would let the scheduler "
            "run them. Wait for them, or mark them failed in the UI."
        )
        time.sleep(5)
    try:
        yield
    finally:
        api.set_paused(dag_id, True)
        for run in api.active_runs(dag_id):
            if run["dag_run_id"] in mine or run["run_type"] not in ("scheduled", "asset_triggered"):
                continue
            path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
            if run["state"] == "queued":
                log.warning("deleting %s, queued by the scheduler while the test had %s unpaused", path, dag_id)
                api.call("DELETE", path)
            else:
                log.warning("failing %s, started by the scheduler while the test had %s unpaused", path, dag_id)
                api.call("PATCH", path, json={"state": "failed", "note": "stopped by tests/integration/test_ui.py"})
