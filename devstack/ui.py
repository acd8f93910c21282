"""`make ui` / `make ui-stop`: Airflow's UI and schedulers on localhost, as four programs of their own supervisord.

``start`` runs Airflow's four components (api-server, scheduler, dag-processor, triggerer) with the
environment the Makefile exports for ``make run`` (AIRFLOW_HOME, the DAGs and plugins folders, LocalExecutor,
the ``AIRFLOW_CONN_*`` connections) plus a few settings sized for a 2-core machine and for localhost only.

They run under a supervisord of their own (config, socket, pidfile and the components' logs under
``$AIRFLOW_HOME/ui/``), not the stack's: the UI belongs to an AIRFLOW_HOME and starts and stops on its own
(``make down`` leaves it alone), it needs Airflow's environment where the stack's services need none, and its
supervisord's session then holds the UI's processes and nothing else, which is what ``stop`` sweeps.
``start`` returns once ``/api/v2/monitor/health`` reports the metadatabase, scheduler, triggerer and
dag-processor healthy (with heartbeats newer than the start) and the DAGs are listed, with a deadline; it fails
with the log tail of a component that died, and stops what it started.

``stop`` has supervisord stop the components (SIGTERM to each one's process group, SIGKILL after a deadline)
and itself signals what the components started in other process groups (task runners get their own, with their
Spark jobs): every process of supervisord's session and their descendants, even after a component (or
supervisord) died. SIGTERM, then SIGKILL after a deadline, all within 60 s; then supervisord shuts down.

One difference from ``make run``: the UI has its own metadata database (``$AIRFLOW_HOME/ui/airflow.db``, or
``AIRFLOW_UI_SQL_ALCHEMY_CONN``). ``airflow dags test`` (``make run``, ``make test``) records its runs in the
metadata database as ordinary running runs; a scheduler sharing that database runs their tasks too as soon as
the DAG is unpaused (seen here: it queued the tasks of a test's ``dags test`` run, which then ended half
failed), and SQLite has a single writer. Separate databases keep both correct; the UI shows the runs it
started, ``make run`` prints its own.

Login (SimpleAuthManager): one local user, ``admin``. Its password is generated here at the first start and
kept only in Airflow's password file in the ignored AIRFLOW_HOME (mode 0600); Airflow then never generates or
prints one. Nothing prints the password: ``start`` says where it is.

Standard library and supervisor only.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devstack.engine import port_owner
from devstack.supervisor import DEAD, Supervisor, SupervisorError, pid_alive, tail

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_DEADLINE_S = 240  # four processes importing Airflow at once on 2 cores
TERM_DEADLINE_S = 35  # then SIGKILL; the whole stop stays under 60 s
KILL_DEADLINE_S = 15
ORPHAN_TERM_DEADLINE_S = 5  # what a dead component left behind: little to wait for
USER = "admin"
# start order; stop is concurrent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class UiError(RuntimeError):
    """Starting or stopping the UI failed; the message says what and what to do."""


# ------------------------------------------------------------------------------------------- settings


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME", PROJECT_ROOT / ".airflow")).resolve()


def ui_dir() -> Path:
    return airflow_home() / "ui"


def port() -> int:
    return int(os.environ.get("AIRFLOW__API__PORT", "8080"))


def url() -> str:
    return f"http://localhost:{port()}"


def password_file() -> Path:
    """Where SimpleAuthManager keeps its users' passwords (Airflow's own default, in AIRFLOW_HOME)."""
    configured = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured) if configured else airflow_home() / "simple_auth_manager_passwords.json.generated"


def database_url() -> str:
    """The UI's own metadata database (see the module docstring): AIRFLOW_UI_SQL_ALCHEMY_CONN, or a SQLite file."""
    return os.environ.get("AIRFLOW_UI_SQL_ALCHEMY_CONN") or f"sqlite:///{ui_dir() / 'airflow.db'}"


def component_env() -> dict[str, str]:
    """The Makefile's environment, plus what the UI needs; a variable already set wins (override per run).

    The one exception is the metadata database: the UI's own (database_url()), never the one of
    `airflow dags test`.
    """
    env = dict(os.environ)
    missing = [k for k in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW_CONN_KAFKA_DEFAULT") if k not in env]
    if missing:
        raise UiError(f"Airflow's environment is not set ({', '.join(missing)}): start the UI with 'make ui'")
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url()
    ui_settings = {
        # localhost only: the API server does not listen on other interfaces
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port()),
        "AIRFLOW__API__WORKERS": "1",
        # where task runners (LocalExecutor) and the triggerer reach the Execution API
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port()}/execution/",
        # one local admin; its password lives in password_file() only
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        # A task runner's supervisor notices its task's exit only at its next heartbeat check (default every 5 s).
        # After verify_messages defers, that late "success" of the deferring try can reach the scheduler after the
        # resumed try is running, and Airflow 3.3.2 then fails the task (apache/airflow#72716). Checking every
        # second reports the deferral before the trigger (~2 s) and the resumed try (~4 s) get there.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # 2 cores: one parsing process (executor slots: the Makefile's AIRFLOW__CORE__PARALLELISM, 4)
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__TRIGGERER__CAPACITY": "100",
    }
    for key, value in ui_settings.items():
        env.setdefault(key, value)
    return env


def ensure_password() -> Path:
    """The admin password exists in Airflow's password file, mode 0600, created here (never printed)."""
    path = password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
        os.fchmod(handle.fileno(), 0o600)
        text = handle.read().strip()
        try:
            passwords = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise UiError(f"{path} is not valid JSON ({exc}): delete it and run 'make ui' again") from exc
        if USER not in passwords:
            passwords[USER] = secrets.token_urlsafe(18)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(passwords) + "\n")
    return path


def ensure_database(env: dict[str, str]) -> None:
    """`airflow db migrate` on the UI's database, the first time and after an upgrade (as devstack/setup.sh)."""
    stamp = ui_dir() / ".migrated"
    constraints = PROJECT_ROOT / "constraints.txt"
    if stamp.is_file() and stamp.stat().st_mtime >= constraints.stat().st_mtime:
        return
    ui_dir().mkdir(parents=True, exist_ok=True)
    out = ui_dir() / "db-migrate.log"
    print(f"ui: initialising the UI's Airflow database ({database_url()})", flush=True)
    airflow = str(Path(sys.executable).parent / "airflow")
    with out.open("wb") as handle:
        proc = subprocess.run(
            [airflow, "db", "migrate"], stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT, timeout=600
        )
    if proc.returncode != 0:
        raise UiError(f"airflow db migrate failed (exit code {proc.returncode}). Last lines of {out}:\n{tail(out)}")
    stamp.touch()


def read_password(user: str = USER) -> str:
    try:
        return json.loads(password_file().read_text())[user]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise UiError(f"no password for {user!r} in {password_file()}: run 'make ui' first") from exc


# ------------------------------------------------------------------------------------------ processes


def supervisor() -> Supervisor:
    return Supervisor(ui_dir(), "devstack-ui", logs=ui_dir())


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, session id) of a live process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3])


def _all_processes() -> dict[int, tuple[int, int, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            out[int(entry.name)] = stat
    return out


def _descendants(roots: set[int], table: dict[int, tuple[int, int, int]]) -> set[int]:
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, (ppid, _, _) in table.items() if ppid in frontier and pid not in found}
        found |= frontier
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ours(cmdline: str) -> bool:
    """supervisord, an Airflow process, or a process started for this project (a Spark job of one of its tasks)."""
    return "supervisord" in cmdline or "airflow" in cmdline or str(PROJECT_ROOT) in cmdline


def session_id() -> int | None:
    """The session of the UI's supervisord (it leads it; the components and what they start live in it): the PID
    in its pidfile, kept after a crash so that its orphans are still found."""
    try:
        return int(supervisor().pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass
class Component:
    name: str

    @property
    def log(self) -> Path:
        return ui_dir() / f"{self.name}.log"

    def command(self) -> list[str]:
        airflow = str(Path(sys.executable).parent / "airflow")
        extra = {
            "api-server": ["--host", "127.0.0.1", "--port", str(port()), "--workers", "1"],
            # task logs are read from AIRFLOW_HOME/logs by the api-server (same machine): no log servers
            "scheduler": ["--skip-serve-logs"],
            "triggerer": ["--skip-serve-logs"],
            "dag-processor": [],
        }[self.name]
        return [airflow, self.name, *extra]

    def pid(self) -> int | None:
        """The component's PID while supervisord runs it."""
        return supervisor().program_pid(self.name)


def components() -> list[Component]:
    return [Component(name) for name in COMPONENTS]


def processes(sid: int | None = None) -> set[int]:
    """Every live process of the UI: supervisord's session (even after supervisord died) and its descendants."""
    sid = sid or session_id()
    if not sid:
        return set()
    table = _all_processes()
    members = {pid for pid, (_, _, session) in table.items() if session == sid and pid_alive(pid)}
    if not any(_ours(_cmdline(pid)) for pid in members):
        return set()  # the PID was reused by someone else's session: not ours
    return _descendants(members, table) - {os.getpid()}


# ---------------------------------------------------------------------------------------------- health


def _health_body(timeout: float = 3.0) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port()}/api/v2/monitor/health", timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def health(timeout: float = 3.0) -> dict[str, str]:
    """{part: status} from /api/v2/monitor/health (no login needed); raises when the API does not answer."""
    body = _health_body(timeout)
    return {part: (body.get(part) or {}).get("status", "unknown") for part in HEALTH_PARTS}


def _health_or_none() -> dict[str, str] | None:
    try:
        return health()
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _heartbeats_since(started: list[str], since: datetime) -> bool:
    """The components just started have heartbeated (health alone may still show a previous one's beat)."""
    try:
        body = _health_body()
    except (OSError, ValueError, urllib.error.URLError):
        return False
    for name in started:
        part = name.replace("-", "_")
        if part in HEALTH_PARTS:
            beat = (body.get(part) or {}).get(f"latest_{part}_heartbeat")
            if not beat or datetime.fromisoformat(beat) < since:
                return False
    return True


# ----------------------------------------------------------------------------------------------- verbs


def start() -> None:
    env = component_env()
    pw_file = ensure_password()
    sup = supervisor()
    running = {c.name: c.pid() for c in components()}
    to_start = [c for c in components() if not running[c.name]]
    if not to_start:
        print(f"ui: already running (pids {', '.join(f'{n} {p}' for n, p in running.items())})", flush=True)
    elif not running["api-server"] and (owner := port_owner(port())):
        raise UiError(
            f"api-server: port {port()} is already taken by {owner}; stop it, or start on another port with "
            f"AIRFLOW__API__PORT=<port> make ui"
        )
    if to_start:
        ensure_database(env)
        if not sup.running() and processes():  # supervisord died and left processes behind
            stop(term_deadline_s=ORPHAN_TERM_DEADLINE_S)
        programs = {
            c.name: Supervisor.program(c.command(), c.log, PROJECT_ROOT, int(TERM_DEADLINE_S)) for c in components()
        }
        sup.render(programs)
        try:
            sup.ensure(env=env)  # the components inherit supervisord's environment: none of it is in its config
        except SupervisorError as exc:
            raise UiError(str(exc)) from exc
    since = datetime.now(UTC)
    started: list[str] = []
    for comp in to_start:
        sup.start(comp.name)
        started.append(comp.name)
        print(f"ui: started {comp.name} (pid {comp.pid()}, log {comp.log})", flush=True)
    try:
        _wait_healthy(started, since)
        dags = _wait_for_dags(time.monotonic() + START_DEADLINE_S)
    except UiError:
        if started:
            stop(only=started)
        raise
    print(
        f"\nAirflow UI: {url()}  (DAGs: {', '.join(dags)})\n"
        f"  login: user '{USER}', password in {pw_file}\n"
        f"         (show it: python3 -c \"import json; print(json.load(open('{pw_file}'))['{USER}'])\")\n"
        f"  REST API: {url()}/api/v2 (token: POST {url()}/auth/token, or 'python -m devstack ui token')\n"
        f"  logs: {ui_dir()}/<component>.log; task logs: {airflow_home() / 'logs'}\n"
        f"  stop: make ui-stop",
        flush=True,
    )


def _wait_healthy(started: list[str], since: datetime) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    last: dict[str, str] | None = None
    sup = supervisor()
    while time.monotonic() < deadline:
        for comp in components():
            info = sup.info(comp.name)
            if not info or info.get("statename") in DEAD or info.get("statename") == "STOPPED":
                time.sleep(0.5)  # supervisord may still be writing the component's last output
                code = f"exited with code {info['exitstatus']}" if info.get("exitstatus") else "is not running"
                raise UiError(
                    f"{comp.name} {code} while the UI was starting. Last lines of {comp.log}:\n{tail(comp.log)}"
                )
        last = _health_or_none()
        if last and all(status == "healthy" for status in last.values()) and _heartbeats_since(started, since):
            return
        time.sleep(1)
    state = last or "the API server does not answer"
    logs = "\n".join(f"--- {c.log}:\n{tail(c.log, 10)}" for c in components())
    raise UiError(
        f"the UI did not become healthy within {START_DEADLINE_S}s ({state}). Last lines of the logs:\n{logs}"
    )


def _wait_for_dags(deadline: float) -> list[str]:
    """The DAG ids the UI lists, once the dag-processor has parsed the DAGs folder (a new database is empty)."""
    while True:
        try:
            body = api_get("/api/v2/dags?limit=100")
        except (OSError, UiError, urllib.error.URLError):
            body = {}
        if body.get("dags"):
            return sorted(d["dag_id"] for d in body["dags"])
        if time.monotonic() > deadline:
            log_file = Component("dag-processor").log
            raise UiError(f"no DAG in the UI after {START_DEADLINE_S}s. Last lines of {log_file}:\n{tail(log_file)}")
        time.sleep(2)


def api_get(path: str) -> dict:
    """GET on the UI's API as the admin user (token from token())."""
    req = urllib.request.Request(f"http://127.0.0.1:{port()}{path}", headers={"Authorization": f"Bearer {token()}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - localhost
        return json.loads(resp.read().decode())


def stop(only: list[str] | None = None, term_deadline_s: float = TERM_DEADLINE_S) -> float:
    """Stop the components (all, or ``only``) and everything they started; returns how long it took (seconds).

    supervisord stops each component's process group (SIGTERM, SIGKILL after its stopwaitsecs); this sends the
    same signals to the other process groups of the UI's processes (task runners and their Spark jobs). With
    every component stopped, supervisord shuts down and nothing of its session may remain.
    """
    began = time.monotonic()
    sup = supervisor()
    sid = session_id()
    names = [c.name for c in components() if only is None or c.name in only]
    targets = processes() if only is None else _component_trees(names)
    if not targets and not sup.pid():
        sup.pidfile.unlink(missing_ok=True)
        print("ui: not running", flush=True)
        return time.monotonic() - began
    running = [n for n in names if Component(n).pid()]
    for name in running:
        try:
            sup.rpc().supervisor.stopProcess(name, False)
        except Exception:  # noqa: BLE001, S110 - it exited meanwhile
            pass
    print(f"ui: stopping {', '.join(running) or 'nothing running'}; {len(targets)} process(es)", flush=True)

    def supervisords() -> set[int | None]:
        """supervisord, and the process groups of components it is still stopping: its own to signal."""
        if not sup.pid():
            return set()
        stopping = {"RUNNING", "STARTING", "STOPPING"}
        return {sid} | {info["pid"] for n in running if (info := sup.info(n)).get("statename") in stopping}

    how = "stopped"
    if not _signal_and_wait(targets, signal.SIGTERM, term_deadline_s + 2, supervisords, only):
        how = f"killed (SIGKILL) after {term_deadline_s:.0f}s"
        if not _signal_and_wait(targets, signal.SIGKILL, KILL_DEADLINE_S, lambda: {sid}, only):
            raise UiError(f"processes {sorted(_alive(targets))} of the UI survived SIGKILL for {KILL_DEADLINE_S}s")
    if not any(c.pid() for c in components()):
        sup.shutdown(deadline_s=KILL_DEADLINE_S)
        leftover = processes(sid)  # supervisord removed its pidfile: the session id from before
        if leftover:  # nothing of the session may outlive supervisord
            _signal_and_wait(leftover, signal.SIGKILL, KILL_DEADLINE_S, set, None)
        sup.pidfile.unlink(missing_ok=True)
    took = time.monotonic() - began
    print(f"ui: {how} in {took:.1f}s", flush=True)
    return took


def _component_trees(names: list[str]) -> set[int]:
    roots = {pid for n in names if (pid := Component(n).pid())}
    return _descendants(roots, _all_processes()) if roots else set()


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if pid_alive(pid)}


def _signal_and_wait(
    pids: set[int],
    sig: signal.Signals,
    seconds: float,
    spare_groups: Callable[[], set[int | None]],
    only: list[str] | None,
) -> bool:
    """Send ``sig`` to the process groups of ``pids`` but ``spare_groups()`` (and of processes that appear
    meanwhile, e.g. a task runner forked while stopping, which join ``pids``); True once all are gone, supervisord
    excepted while it runs (it shuts down after)."""
    deadline = time.monotonic() + seconds
    signalled: set[int] = set()  # process groups, each signalled once
    own_group = os.getpgid(0)
    sid = session_id()
    while True:
        pids |= processes() if only is None else _component_trees(only)
        live = _alive(pids) - ({sid} if supervisor().pid() else set())
        if not live:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in live:
            try:
                pgid = os.getpgid(pid)
                if pgid == own_group:  # never our own group (a test calling stop()): that process alone
                    os.kill(pid, sig)
                elif pgid not in signalled and pgid not in spare_groups():
                    os.killpg(pgid, sig)
                    signalled.add(pgid)
            except ProcessLookupError:
                pass
        time.sleep(0.3)


def status() -> bool:
    rows = []
    for comp in components():
        pid = comp.pid()
        rows.append((comp.name, "up" if pid else "down", str(pid or "-"), str(comp.log)))
    api = _health_or_none()
    print(f"{'COMPONENT':<14}{'STATE':<7}{'PID':<9}LOG")
    for row in rows:
        print(f"{row[0]:<14}{row[1]:<7}{row[2]:<9}{row[3]}")
    print(f"health: {api if api else 'the API server does not answer'} ({url()})")
    print(f"metadata database: {database_url()}")
    print(f"supervisord: {supervisor().conf} (pid {supervisor().pid() or '-'})")
    return all(r[1] == "up" for r in rows) and bool(api) and all(s == "healthy" for s in api.values())


def token() -> str:
    """A JWT for the admin user (POST /auth/token with the password from the password file)."""
    body = json.dumps({"username": USER, "password": read_password()}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port()}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - localhost
            return json.loads(resp.read().decode())["access_token"]
    except urllib.error.HTTPError as exc:
        raise UiError(f"POST /auth/token was refused ({exc.code}): is the UI the one of {airflow_home()}?") from exc
    except urllib.error.URLError as exc:
        raise UiError(f"the UI does not answer on {url()} ({exc.reason}): run 'make ui'") from exc


def main(argv: list[str]) -> int:
    usage = "usage: python -m devstack ui {start|stop|status|token}"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if len(argv) != 1 or argv[0] not in ("start", "stop", "status", "token"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "start":
            start()
        elif argv[0] == "stop":
            stop()
        elif argv[0] == "status":
            return 0 if status() else 3
        else:
            print(token())
    except UiError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0
