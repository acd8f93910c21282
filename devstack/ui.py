"""`make ui` / `make ui-stop`: Airflow's UI and schedulers on localhost, as four processes this module tracks.

``start`` runs Airflow's four components (api-server, scheduler, dag-processor, triggerer) with the
environment the Makefile exports for ``make run`` (AIRFLOW_HOME, the DAGs and plugins folders, LocalExecutor,
the ``AIRFLOW_CONN_*`` connections) plus a few settings sized for a 2-core machine and for localhost only. Each
component runs in its own session (and process group), with its PID file and log under ``$AIRFLOW_HOME/ui/``.
``start`` returns once ``/api/v2/monitor/health`` reports the metadatabase, scheduler, triggerer and
dag-processor healthy (with heartbeats newer than the start) and the DAGs are listed, with a deadline; it fails
with the log tail of a component that died, and stops what it started.

``stop`` finds, by PID file only, the components' sessions: the components and everything they started, even
after a component died (LocalExecutor workers, task runners, which get their own process groups, and their
Spark jobs). It sends SIGTERM to those process groups, then SIGKILL after a deadline, all within 60 s.

One difference from ``make run``: the UI has its own metadata database (``$AIRFLOW_HOME/ui/airflow.db``, or
``AIRFLOW_UI_SQL_ALCHEMY_CONN``). ``airflow dags test`` (``make run``, ``make test``) records its runs in the
metadata database as ordinary running runs; a scheduler sharing that database runs their tasks too as soon as
the DAG is unpaused (seen here: it queued the tasks of a test's ``dags test`` run, which then ended half
failed), and SQLite has a single writer. Separate databases keep both correct; the UI shows the runs it
started, ``make run`` prints its own.

Login (SimpleAuthManager): one local user, ``admin``. Its password is generated here at the first start and
kept only in Airflow's password file in the ignored AIRFLOW_HOME (mode 0600); Airflow then never generates or
prints one. Nothing prints the password: ``start`` says where it is.

Standard library only (plus include.stack.services), so ``stop`` and ``status`` work without the venv.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from include.stack.services import _cmdline, _pid_alive, port_owner, tail

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_DEADLINE_S = 240  # four Airflow processes importing Airflow at once on 2 cores: ~30-60 s
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
    """`airflow db migrate` on the UI's database, the first time and after an upgrade (as scripts/setup.sh)."""
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


def _ours(cmdline: str) -> bool:
    """An Airflow process, or a process started for this project (a Spark job of one of its tasks)."""
    return "airflow" in cmdline or str(PROJECT_ROOT) in cmdline


@dataclass
class Component:
    name: str

    @property
    def pid_file(self) -> Path:
        return ui_dir() / f"{self.name}.pid"

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

    def recorded(self) -> int | None:
        """The PID in our PID file: the component's PID, and the id of the session it leads."""
        try:
            return int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pid(self) -> int | None:
        """The recorded PID, if that process is alive and still the session leader we started."""
        pid = self.recorded()
        stat = _proc_stat(pid) if pid else None
        if pid and stat and stat[2] == pid and _pid_alive(pid) and "airflow" in _cmdline(pid):
            return pid
        return None

    def session(self, table: dict[int, tuple[int, int, int]]) -> set[int]:
        """The live processes of our session: the component and what it started (LocalExecutor workers, task
        runners and their Spark JVMs, parsing processes), even after the component itself died (orphans)."""
        sid = self.recorded()
        if not sid:
            return set()
        members = {pid for pid, (_, _, session) in table.items() if session == sid and _pid_alive(pid)}
        if self.pid() or any(_ours(_cmdline(pid)) for pid in members):
            return members
        return set()  # the PID was reused by someone else's session: not ours

    def start(self, env: dict[str, str]) -> subprocess.Popen:
        ui_dir().mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} make ui: {' '.join(self.command())}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_ROOT,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc


def components() -> list[Component]:
    return [Component(name) for name in COMPONENTS]


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
        orphans = [c.name for c in to_start if c.session(_all_processes())]
        if orphans:  # a component died and left its children (idle LocalExecutor workers ignore SIGTERM)
            stop(only=orphans, term_deadline_s=ORPHAN_TERM_DEADLINE_S)
    since = datetime.now(UTC)
    started: dict[str, subprocess.Popen] = {}
    for comp in to_start:
        started[comp.name] = comp.start(env)
        log.info("started %s (pid %s)", comp.name, started[comp.name].pid)
        print(f"ui: started {comp.name} (pid {started[comp.name].pid}, log {comp.log})", flush=True)
    try:
        _wait_healthy(started, since)
        dags = _wait_for_dags(time.monotonic() + START_DEADLINE_S)
    except UiError:
        if started:
            stop(only=list(started))
        raise
    print(
        f"\nAirflow UI: {url()}  (DAGs: {', '.join(dags)})\n"
        f"  login: user '{USER}', password in {pw_file}\n"
        f"         (show it: python3 -c \"import json; print(json.load(open('{pw_file}'))['{USER}'])\")\n"
        f"  REST API: {url()}/api/v2 (token: POST {url()}/auth/token, or 'python -m include.ui token')\n"
        f"  logs: {ui_dir()}/<component>.log; task logs: {airflow_home() / 'logs'}\n"
        f"  stop: make ui-stop",
        flush=True,
    )


def _wait_healthy(started: dict[str, subprocess.Popen], since: datetime) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    last: dict[str, str] | None = None
    while time.monotonic() < deadline:
        for comp in components():
            proc = started.get(comp.name)
            dead = proc.poll() is not None if proc else comp.pid() is None
            if dead:
                code = f"exited with code {proc.returncode}" if proc else "is not running any more"
                raise UiError(
                    f"{comp.name} {code} while the UI was starting. Last lines of {comp.log}:\n{tail(comp.log)}"
                )
        last = _health_or_none()
        if last and all(status == "healthy" for status in last.values()) and _heartbeats_since(list(started), since):
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
    """Stop our components and everything they started; returns how long it took (seconds).

    SIGTERM to every process group in the components' sessions (task runners have their own groups), then
    SIGKILL to what is left after ``term_deadline_s``.
    """
    began = time.monotonic()
    comps = [c for c in components() if only is None or c.name in only]
    pids = _ui_processes(comps)
    if not pids:
        for comp in comps:
            comp.pid_file.unlink(missing_ok=True)
        print("ui: not running", flush=True)
        return time.monotonic() - began
    names = ", ".join(f"{c.name} {c.recorded()}" + ("" if c.pid() else " (orphans)") for c in comps if c.recorded())
    print(f"ui: SIGTERM to {len(pids)} process(es) of {names}", flush=True)
    how = "stopped"
    if not _signal_and_wait(comps, pids, signal.SIGTERM, term_deadline_s):
        how = f"killed (SIGKILL) after {term_deadline_s:.0f}s"
        if not _signal_and_wait(comps, pids, signal.SIGKILL, KILL_DEADLINE_S):
            raise UiError(f"processes {sorted(_alive(pids))} of the UI survived SIGKILL for {KILL_DEADLINE_S}s")
    for comp in comps:
        comp.pid_file.unlink(missing_ok=True)
    took = time.monotonic() - began
    print(f"ui: {how} in {took:.1f}s", flush=True)
    return took


def processes() -> set[int]:
    """Every live process of the UI: the components' sessions and their descendants."""
    return _ui_processes(components())


def _ui_processes(comps: list[Component]) -> set[int]:
    table = _all_processes()
    members = set().union(*(c.session(table) for c in comps))
    return _descendants(members, table) - {os.getpid()}


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if _pid_alive(pid)}


def _signal_and_wait(comps: list[Component], pids: set[int], sig: signal.Signals, seconds: float) -> bool:
    """Send ``sig`` to the process groups of ``pids`` (and of processes that appear meanwhile, e.g. a task
    runner forked while stopping, which join ``pids``); True once all of them are gone."""
    deadline = time.monotonic() + seconds
    signalled: set[int] = set()  # process groups, each signalled once
    own_group = os.getpgid(0)
    while True:
        pids |= _ui_processes(comps)
        live = _alive(pids)
        if not live:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in live:
            try:
                pgid = os.getpgid(pid)
                if pgid == own_group:  # never our own group (a test calling stop()): that process alone
                    os.kill(pid, sig)
                elif pgid not in signalled:
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m include.ui {start|stop|status|token}"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if len(argv) != 1:
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "start":
            start()
        elif argv[0] == "stop":
            stop()
        elif argv[0] == "status":
            return 0 if status() else 3
        elif argv[0] == "token":
            print(token())
        else:
            print(usage, file=sys.stderr)
            return 2
    except UiError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
