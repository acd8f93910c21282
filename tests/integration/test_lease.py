"""The checkpoint lease (include/hdfs/lease.py) on the real HDFS, and the driver's side of it (jobs/streaming.py
LeaseWatchdog): one holder at a time, a live holder waited for and then named, a stale one taken over."""

from __future__ import annotations

import threading
import time

import pytest

from include.hdfs.lease import LEASE_FILE, Heartbeat, Lease, LeaseHeld, read_holder
from tests.support.stack import HDFS_URI, hdfs_user

pytestmark = pytest.mark.integration

OWNER = {"dag_id": "write_to_kafka", "run_id": "run-a", "task_id": "submit_write_job", "try_number": 1}


@pytest.fixture
def checkpoint(unique, cleanup_hdfs):
    path = f"/user/{hdfs_user()}/it-lease-{unique}/checkpoint"
    cleanup_hdfs(path.rsplit("/", 1)[0])
    return path


def test_lease_is_acquired_named_and_released(hdfs, checkpoint):
    lease = Lease(hdfs, checkpoint, ttl_s=5, owner=OWNER)
    lease.acquire(wait_s=0)
    holder = read_holder(hdfs, f"{checkpoint}/{LEASE_FILE}")
    assert holder.token == lease.token
    assert holder.content["run_id"] == "run-a" and holder.content["ttl_s"] == 5
    assert holder.age() < 5
    lease.release()
    assert read_holder(hdfs, lease.path) is None
    assert hdfs.list(checkpoint) == []  # no temporary file left


def test_second_owner_waits_for_a_live_lease_then_fails_naming_the_holder(hdfs, checkpoint):
    first = Lease(hdfs, checkpoint, ttl_s=1.5, owner=OWNER)
    first.acquire(wait_s=0)
    second = Lease(hdfs, checkpoint, ttl_s=1.5, owner={**OWNER, "run_id": "run-b"})
    with Heartbeat(first):
        start = time.monotonic()
        with pytest.raises(LeaseHeld) as held:
            second.acquire(wait_s=4, poll_s=0.2)  # longer than 2 * ttl: only the heartbeat keeps it live
        waited = time.monotonic() - start
    message = str(held.value)
    assert waited >= 4
    assert "run run-a" in message and f"pid {first.content['pid']}" in message and "last heartbeat" in message
    assert read_holder(hdfs, first.path).token == first.token
    first.release()


def test_second_owner_gets_the_lease_once_the_first_releases_it(hdfs, checkpoint):
    first = Lease(hdfs, checkpoint, ttl_s=5, owner=OWNER)
    first.acquire(wait_s=0)
    threading.Timer(1.0, first.release).start()
    second = Lease(hdfs, checkpoint, ttl_s=5, owner={**OWNER, "run_id": "run-b"})
    start = time.monotonic()
    second.acquire(wait_s=20, poll_s=0.2)
    assert 0.9 < time.monotonic() - start < 10
    assert read_holder(hdfs, second.path).token == second.token
    second.release()


def test_stale_lease_is_taken_over_and_its_old_holder_can_neither_renew_nor_release_it(hdfs, checkpoint):
    dead = Lease(hdfs, checkpoint, ttl_s=1, owner=OWNER)
    dead.acquire(wait_s=0)  # and never renewed: its task runner was killed
    taker = Lease(hdfs, checkpoint, ttl_s=1, owner={**OWNER, "run_id": "run-b"})
    start = time.monotonic()
    taker.acquire(wait_s=20, poll_s=0.2)
    assert 2 <= time.monotonic() - start < 10  # stale only after 2 * ttl
    assert read_holder(hdfs, checkpoint + "/" + LEASE_FILE).token == taker.token
    assert dead.renew() is False
    dead.release()
    assert read_holder(hdfs, taker.path).token == taker.token
    taker.release()
    assert hdfs.list(checkpoint) == []


def test_heartbeat_keeps_the_lease_fresh(hdfs, checkpoint):
    lease = Lease(hdfs, checkpoint, ttl_s=1.5, owner=OWNER)
    lease.acquire(wait_s=0)
    with Heartbeat(lease) as beat:
        time.sleep(4)
        assert read_holder(hdfs, lease.path).age() < 1.5
        assert not beat.lost.is_set()
    lease.release()


def test_of_racing_owners_exactly_one_gets_the_lease(hdfs, checkpoint):
    leases = [Lease(hdfs, checkpoint, ttl_s=30, owner={**OWNER, "run_id": f"run-{i}"}) for i in range(4)]
    won: list[Lease] = []
    barrier = threading.Barrier(len(leases))

    def race(lease: Lease) -> None:
        barrier.wait()
        try:
            lease.acquire(wait_s=0)
            won.append(lease)
        except LeaseHeld:
            pass

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 1
    assert read_holder(hdfs, won[0].path).token == won[0].token
    won[0].release()


def test_driver_watchdog_sees_a_lease_gone_taken_or_stale(spark, hdfs, checkpoint):
    from jobs.streaming import LeaseWatchdog

    lease = Lease(hdfs, checkpoint, ttl_s=1.5, owner=OWNER)
    lease.acquire(wait_s=0)
    watchdog = LeaseWatchdog(spark, f"{HDFS_URI}{lease.path}", lease.token, ttl_s=1.5)
    assert watchdog.problem() is None
    assert "held by another owner" in LeaseWatchdog(spark, watchdog.path, "someone-else", 1.5).problem()
    time.sleep(2)
    assert "heartbeat is" in watchdog.problem()
    lease.renew()
    assert watchdog.problem() is None
    lease.release()
    assert watchdog.problem() == "the lease is gone"
