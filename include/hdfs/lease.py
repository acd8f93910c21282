"""One driver per checkpoint: a lease file on HDFS, ``<checkpoint>/_lease.json``, whatever Airflow runs the job.

``max_active_runs=1`` holds within one Airflow metadata database only: `make run` and `make ui` (or two
deployments) each have their own, and a task runner killed alone (OOM killer) leaves its spark-submit running
while the retry starts another. Two drivers on one checkpoint would write the same batch twice, or race on
Spark's offset and commit logs. So the task that submits a job holds the query's lease while it runs:

- **acquire**: the lease is written whole under a temporary name, then renamed to ``_lease.json``; HDFS refuses a
  rename onto an existing file, so of two racing owners exactly one wins. The content names the holder (a random
  token, host, pid, DAG/run/task, AIRFLOW_HOME, when, ``ttl_s``) and never changes.
- **heartbeat**: the holder sets the file's modification time to now (WebHDFS SETTIMES, an atomic metadata call)
  every ``ttl_s / 3``; the heartbeat's age is now minus that time (the hosts' clocks must agree, as NTP makes them).
- **a live lease** (heartbeat younger than ``TAKEOVER_FACTOR * ttl_s``): a second owner waits for it, up to a
  deadline, then fails naming the holder.
- **a stale lease**: taken over: moved aside under a name of the taker's own (one taker wins), checked to be the
  stale one, deleted, and acquired anew.
- **release**: moved aside, checked to be ours, deleted.

The driver watches the same file (jobs/streaming.py LeaseWatchdog): when it is gone, someone else's, or its
heartbeat is older than ``ttl_s``, the driver stops its query and exits. It gives up at ``ttl_s``, a taker takes
over at twice that: an orphan driver has stopped writing before the next one can start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)

LEASE_FILE = "_lease.json"
TAKEOVER_FACTOR = 2  # a lease is stale (may be taken over) when its heartbeat is older than this * its ttl


class LeaseHeld(RuntimeError):
    """Another owner holds the lease, and kept it past our deadline."""


def lease_path(checkpoint: str) -> str:
    return f"{checkpoint.rstrip('/')}/{LEASE_FILE}"


@dataclass(frozen=True)
class Holder:
    """A lease as read: its content and its heartbeat (epoch seconds: the file's modification time)."""

    content: dict
    heartbeat: float

    @property
    def token(self) -> str | None:
        return self.content.get("owner")

    @property
    def ttl_s(self) -> float:
        return float(self.content.get("ttl_s") or 0)

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.heartbeat

    def describe(self, now: float | None = None) -> str:
        c = self.content
        return (
            f"host {c.get('host')} pid {c.get('pid')}, dag {c.get('dag_id')} run {c.get('run_id')} task "
            f"{c.get('task_id')} try {c.get('try_number')} (AIRFLOW_HOME {c.get('airflow_home')}), acquired "
            f"{c.get('acquired')}, last heartbeat {self.age(now):.0f} s ago (ttl {self.ttl_s:g} s)"
        )


def read_holder(hdfs, path: str) -> Holder | None:
    """The lease at ``path``; None when there is none. Unreadable content counts as a holder with no name,
    alive as long as its modification time is recent."""
    from hdfs.util import HdfsError

    status = hdfs.status(path, strict=False)
    if status is None:
        return None
    try:
        with hdfs.read(path) as reader:
            content = json.loads(reader.read())
    except HdfsError:
        return None if hdfs.status(path, strict=False) is None else Holder({}, status["modificationTime"] / 1000)
    except ValueError:
        content = {}
    return Holder(content, status["modificationTime"] / 1000)


class Lease:
    """The lease of one checkpoint, for one owner. ``owner``: what names the holder to others (dag_id, run_id,
    task_id, try_number, ...); host, pid, AIRFLOW_HOME and the token are added."""

    def __init__(self, hdfs, checkpoint: str, ttl_s: float, owner: dict | None = None) -> None:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be > 0 s, got {ttl_s}")
        self.hdfs, self.ttl_s = hdfs, ttl_s
        self.path = lease_path(checkpoint)
        self.token = uuid.uuid4().hex
        self.content = {
            "owner": self.token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "airflow_home": os.environ.get("AIRFLOW_HOME"),
            **(owner or {}),
            "ttl_s": ttl_s,
        }

    # ---- acquire, renew, release ------------------------------------------------------------------------------
    def acquire(self, wait_s: float, poll_s: float = 1.0) -> None:
        """Hold the lease, waiting up to ``wait_s`` for a live holder to release it; a stale one is taken over.
        Raises LeaseHeld naming the holder when the deadline passes."""
        deadline = time.monotonic() + wait_s
        next_log = 0.0
        while True:
            if self._create():
                log.info("lease %s acquired (owner %s, ttl %g s)", self.path, self.token, self.ttl_s)
                return
            holder = read_holder(self.hdfs, self.path)
            if holder is None:
                continue  # released meanwhile
            stale_after = TAKEOVER_FACTOR * max(self.ttl_s, holder.ttl_s)
            if holder.age() > stale_after:
                if self._take_over(holder):
                    return
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise LeaseHeld(
                    f"checkpoint lease {self.path} is held by another driver: {holder.describe()}. "
                    f"Waited {wait_s:g} s. Only one driver may run a query at a time: wait for that run to finish "
                    f"(or, if its process is gone, for its heartbeat to be older than {stale_after:g} s: then the "
                    "lease is taken over)."
                )
            if time.monotonic() >= next_log:
                log.warning("waiting (up to %.0f s more) for lease %s, held by %s", left, self.path, holder.describe())
                next_log = time.monotonic() + 15
            time.sleep(min(poll_s, max(left, 0.01)))

    def renew(self) -> bool:
        """Heartbeat: True while the lease is ours (its modification time is set to now), False once it is not."""
        holder = read_holder(self.hdfs, self.path)
        if holder is None or holder.token != self.token:
            return False
        self.hdfs.set_times(self.path, modification_time=int(time.time() * 1000))
        return True

    def release(self) -> None:
        """Give the lease back, if it is still ours."""
        aside = self._move_aside()
        if aside is None:
            log.warning("lease %s was gone at release", self.path)
            return
        moved = read_holder(self.hdfs, aside)
        if moved is not None and moved.token != self.token:
            log.warning("lease %s was no longer ours at release (held by %s): left to it", self.path, moved.describe())
            self._put_back(aside)
            return
        self.hdfs.delete(aside)
        log.info("lease %s released", self.path)

    def holder(self) -> Holder | None:
        return read_holder(self.hdfs, self.path)

    # ---- the atomic steps -------------------------------------------------------------------------------------
    def _create(self) -> bool:
        from hdfs.util import HdfsError

        content = {**self.content, "acquired": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = f"{self.path}.{self.token}.tmp"
        self.hdfs.makedirs(self.path.rsplit("/", 1)[0])
        self.hdfs.write(tmp, data=json.dumps(content, sort_keys=True).encode(), overwrite=True)
        try:
            self.hdfs.rename(tmp, self.path)  # fails when the lease exists: one of two racing owners wins
        except HdfsError:
            self.hdfs.delete(tmp)
            return False
        self.hdfs.set_times(self.path, modification_time=int(time.time() * 1000))
        return True

    def _move_aside(self) -> str | None:
        from hdfs.util import HdfsError

        aside = f"{self.path}.{self.token}.aside"
        try:
            self.hdfs.rename(self.path, aside)  # of two movers, one finds the lease gone
        except HdfsError:
            return None
        return aside

    def _put_back(self, aside: str) -> None:
        from hdfs.util import HdfsError

        try:
            self.hdfs.rename(aside, self.path)
        except HdfsError:  # a new lease is there already: the one moved aside was not the current one
            self.hdfs.delete(aside)

    def _take_over(self, stale: Holder) -> bool:
        aside = self._move_aside()
        if aside is None:
            return False
        moved = read_holder(self.hdfs, aside)
        if moved is None or moved.token != stale.token or moved.heartbeat != stale.heartbeat:
            self._put_back(aside)  # another taker replaced it, or it was renewed meanwhile: not ours to take
            return False
        self.hdfs.delete(aside)
        log.warning("took over stale lease %s from %s", self.path, stale.describe())
        return self._create()


class Heartbeat:
    """Renews a lease every ``ttl_s / 3`` from a daemon thread while the ``with`` block runs. ``lost`` is set
    once the lease is someone else's (the driver stops by itself then, see LeaseWatchdog)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat {lease.path}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease.ttl_s / 3):
            try:
                if not self.lease.renew():
                    log.error("lease %s is no longer ours (held by: %s)", self.lease.path, self.lease.holder())
                    self.lost.set()
                    return
            except Exception as exc:  # noqa: BLE001 - a missed beat is not fatal; the driver judges the age
                log.warning("lease %s heartbeat failed: %s", self.lease.path, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
