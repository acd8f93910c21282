"""Spark on YARN, as the submitting task sees it: which application a spark-submit started, and its state and
end through the ResourceManager's REST API (``GET/PUT /ws/v1/cluster/apps/<id>[/state]``), with a deadline on
every wait. No ``yarn`` CLI is needed on the Airflow worker.

The ResourceManager's address is the Spark connection's ``extra.yarn_resourcemanager_webapp_address`` (the key
the Spark provider's own YARN tracking reads), e.g. ``http://rm.example.com:8088``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

# org.apache.hadoop.yarn.api.records.ApplicationId: application_<cluster timestamp>_<sequence number>
APPLICATION_ID = re.compile(r"\bapplication_\d+_\d+\b")
RM_ADDRESS_KEY = "yarn_resourcemanager_webapp_address"
FINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
HTTP_TIMEOUT = (5, 30)  # (connect, read) seconds


class YarnError(RuntimeError):
    """The ResourceManager could not be reached, or did not do what was asked within its deadline."""


def application_id(line: str) -> str | None:
    """The YARN application id in a line of spark-submit's output ("Submitted application application_1_2")."""
    match = APPLICATION_ID.search(line)
    return match.group(0) if match else None


def is_yarn(master: str | None) -> bool:
    return (master or "").strip().lower() == "yarn"


def rm_url(extra: dict[str, Any]) -> str:
    """The ResourceManager's web address from a Spark connection's extra (``http://`` added to a bare host:port)."""
    raw = str(extra.get(RM_ADDRESS_KEY) or "").strip()
    if not raw:
        raise YarnError(
            f"the Spark connection's extra has no {RM_ADDRESS_KEY!r}: set it to the ResourceManager's web address "
            "(yarn.resourcemanager.webapp.address, e.g. http://rm.example.com:8088) so that a killed task can kill "
            "its YARN application and a cluster-mode task can follow it"
        )
    return (raw if "://" in raw else f"http://{raw}").rstrip("/")


@dataclass(frozen=True)
class AppState:
    state: str  # NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED
    final_status: str  # UNDEFINED, SUCCEEDED, FAILED, KILLED
    diagnostics: str
    name: str = ""

    @property
    def ended(self) -> bool:
        return self.state in FINAL_STATES


def _request(method: str, url: str, auth: Any = None, **kwargs: Any) -> Any:
    import requests

    try:
        resp = requests.request(method, url, auth=auth, timeout=HTTP_TIMEOUT, **kwargs)
    except requests.exceptions.RequestException as exc:
        host = url.split("/ws/", 1)[0]
        raise YarnError(f"YARN ResourceManager {host} unreachable ({exc.__class__.__name__}: {exc})") from exc
    if resp.status_code not in (200, 202):
        raise YarnError(f"YARN ResourceManager answered HTTP {resp.status_code} to {method} {url}: {resp.text[:300]}")
    return resp.json()


def app_state(rm: str, app_id: str, auth: Any = None) -> AppState:
    app = _request("GET", f"{rm}/ws/v1/cluster/apps/{app_id}", auth)["app"]
    return AppState(app["state"], app["finalStatus"], app.get("diagnostics") or "", app.get("name") or "")


def wait_ended(rm: str, app_id: str, deadline_s: float, poll_s: float = 0.5, auth: Any = None) -> AppState:
    """The application's state once it has ended; YarnError when it has not within ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while True:
        state = app_state(rm, app_id, auth)
        if state.ended:
            return state
        if time.monotonic() >= deadline:
            raise YarnError(f"YARN application {app_id} still {state.state} after {deadline_s:g} s at {rm}")
        time.sleep(poll_s)


def kill(rm: str, app_id: str, deadline_s: float = 30, auth: Any = None) -> AppState:
    """Ask the ResourceManager to kill the application and wait, up to ``deadline_s``, until it has ended.
    An application that had already ended is left as it is (its state is returned)."""
    state = app_state(rm, app_id, auth)
    if state.ended:
        return state
    _request("PUT", f"{rm}/ws/v1/cluster/apps/{app_id}/state", auth, json={"state": "KILLED"})
    return wait_ended(rm, app_id, deadline_s, auth=auth)


def driver_log_tail(rm: str, app_id: str, size: int = 16000, auth: Any = None) -> dict[str, str]:
    """The last ``size`` bytes of the ApplicationMaster container's stdout and stderr (in cluster deploy mode, the
    driver's own output), from its NodeManager's REST API; what could not be fetched says why."""
    attempts = _request("GET", f"{rm}/ws/v1/cluster/apps/{app_id}/appattempts", auth)
    attempt = ((attempts.get("appAttempts") or {}).get("appAttempt") or [{}])[-1]
    container, node = attempt.get("containerId"), attempt.get("nodeHttpAddress")
    if not (container and node):
        return {"": f"no ApplicationMaster container is known for {app_id}"}
    scheme = rm.split("://", 1)[0]
    out = {}
    for name in ("stdout", "stderr"):
        url = f"{scheme}://{node}/ws/v1/node/containers/{container}/logs/{name}?size=-{size}"
        try:
            import requests

            resp = requests.get(url, auth=auth, timeout=HTTP_TIMEOUT)
            out[name] = resp.text if resp.status_code == 200 else f"HTTP {resp.status_code} from {url}"
        except Exception as exc:  # noqa: BLE001 - a missing log must not hide the failure being reported
            out[name] = f"NodeManager {node} unreachable ({exc.__class__.__name__}) for {url}"
    return out


_ERROR_LINE = re.compile(r"Error|Exception|Traceback|ERROR|FATAL")


def error_lines(text: str, limit: int = 20) -> list[str]:
    """The lines of a driver's log that name an error (stack frames left out): the first ``limit`` of them."""
    found = [
        line.rstrip()
        for line in text.splitlines()
        if _ERROR_LINE.search(line) and not line.lstrip().startswith(("at ", "... "))
    ]
    return found[:limit]
