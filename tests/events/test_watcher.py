"""#18 point 1 (and 2): read_from_kafka started by its asset watcher under `make ui`, with the real scheduler,
triggerer and dag-processor. Opt-in (`make test-events`, ~10-15 min): not part of `make test`.

The watcher watches the default topic (fixed when the DAG file is parsed), so this module owns
`kafka-new-topic` on the stack it runs on: it deletes and recreates the topic, the default archive
(`/user/<user>/kafka-new-topic-archive`), its query's checkpoint and the watcher's consumer group. Run it on a
stack of your own (STACK_DIR and moved ports, README).

Bursts of 1, 100 and 10,000 messages, with pauses between: for each, how many runs it started, and the time from
its last message (acknowledged by the broker) to the end of the run that archived it; at the end every message
is in the archive exactly once (DuckDB and pyarrow read it, a plain consumer reads the topic). The figures are
printed and written to `$AIRFLOW_HOME/test-events.json`; only the guarantees are asserted.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import signal
import statistics
import time

import pytest

from devstack import ui
from include.config import DEFAULT_TOPIC, WATCHER_GROUP_ID
from include.plans import checkpoint_for
from tests.integration.test_ui import Airflow, _when
from tests.support.archive import archive_rows
from tests.support.kafka import consume_all, delete_topics, produce_records
from tests.support.stack import BOOTSTRAP, hdfs_user

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

DAG = "read_from_kafka"
OUTPUT_DIR = f"/user/{hdfs_user()}/{DEFAULT_TOPIC}-archive"
ARCHIVE_DEADLINE_S = 600  # a burst archived: watcher -> scheduler -> a Spark run, maybe behind one more run
WATCHER_DEADLINE_S = 180  # the dag-processor registers the watcher, the triggerer starts it
QUIET_S = 30  # after a burst is archived: time for a further run to appear, if the watcher fired again
FIGURES: dict = {"bursts": []}


def _admin():
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": BOOTSTRAP})


@pytest.fixture(scope="module")
def default_topic(stack, api):
    """kafka-new-topic, new and empty, with no archive, checkpoint or watcher group; read_from_kafka paused."""
    from confluent_kafka.admin import NewTopic
    from hdfs import InsecureClient

    from tests.support.stack import WEBHDFS

    api.set_paused(DAG, True)
    api.set_paused("write_to_kafka", True)
    wait_watchers(0)  # no consumer in the watcher's group while it and the topic are deleted
    delete_topics([DEFAULT_TOPIC])
    admin = _admin()
    deadline = time.monotonic() + 60  # a broker just started has no group coordinator yet (NOT_COORDINATOR)
    while True:
        try:
            admin.delete_consumer_groups([WATCHER_GROUP_ID])[WATCHER_GROUP_ID].result(timeout=30)
            break
        except Exception as exc:  # noqa: BLE001 - not there is fine, a coordinator not ready yet is retried
            if "GROUP_ID_NOT_FOUND" in str(exc):
                break
            assert "COORDINATOR" in str(exc) and time.monotonic() < deadline, f"could not delete the group: {exc}"
            time.sleep(1)
    hdfs = InsecureClient(WEBHDFS, user=hdfs_user(), timeout=30)
    hdfs.delete(OUTPUT_DIR, recursive=True)
    hdfs.delete(posixpath.dirname(checkpoint_for(hdfs_user(), DAG, DEFAULT_TOPIC, OUTPUT_DIR)), recursive=True)
    deadline = time.monotonic() + 60
    while True:  # topic deletion is asynchronous
        try:
            admin.create_topics([NewTopic(DEFAULT_TOPIC, 1, 1)])[DEFAULT_TOPIC].result(timeout=30)
            break
        except Exception:  # noqa: BLE001 - the deletion is still going on
            assert time.monotonic() < deadline, f"could not recreate {DEFAULT_TOPIC}"
            time.sleep(2)
    FIGURES["since"] = time.time()  # events and runs of earlier sessions in the UI's database are not ours
    yield hdfs
    api.set_paused(DAG, True)
    out = ui.airflow_home() / "test-events.json"
    out.write_text(json.dumps(FIGURES, indent=2) + "\n")
    print(f"\nevent-driven figures ({out}):\n{json.dumps(FIGURES, indent=2)}")


def runs(api: Airflow) -> list[dict]:
    return api.call("GET", f"/dags/{DAG}/dagRuns", params={"limit": 100, "order_by": "-run_after"})["dag_runs"]


def archive_events(api: Airflow) -> list[dict]:
    """read_from_kafka's archive asset events (verify_sink's), newest first."""
    body = api.call("GET", "/assets/events", params={"source_dag_id": DAG, "limit": 100, "order_by": "-timestamp"})
    return body["asset_events"]


def archived_up_to(api: Airflow) -> tuple[int, dict | None]:
    """The end offset (partition 0) the archive events cover, and the event that reached it."""
    best, event = 0, None
    for e in archive_events(api):
        if _when(e["timestamp"]).timestamp() < FIGURES["since"]:
            continue
        end = (e.get("extra") or {}).get("offsets", {}).get("ranges", {}).get("0", [0, 0])[1]
        if end > best:
            best, event = end, e
    return best, event


def wait_idle(api: Airflow, deadline_s: float = ARCHIVE_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while api.active_runs(DAG):
        assert time.monotonic() < deadline, f"{DAG} still has runs going after {deadline_s}s"
        time.sleep(3)


def wait_for_watcher(api: Airflow, start: int) -> None:
    """The watcher's trigger runs in the triggerer: registered, and its consumer logged that it consumes the
    topic after ``start`` (a size of the triggerer's log)."""
    triggerer_log = ui.ui_dir() / "triggerer.log"
    wait_watchers(1)
    deadline = time.monotonic() + WATCHER_DEADLINE_S
    while True:
        text = triggerer_log.read_text(errors="replace")[start:] if triggerer_log.exists() else ""
        if "Kafka watcher: consuming" in text:
            return
        assert time.monotonic() < deadline, f"the watcher did not start within {WATCHER_DEADLINE_S}s:\n{text[-3000:]}"
        time.sleep(2)


def burst(size: int, tag: str) -> float:
    """``size`` messages with a null key (some with a binary value, one a tombstone), acknowledged; returns when."""
    records = []
    for i in range(size):
        value = None if (i == size // 2 and size > 1) else (b"\xff\x00" if i % 7 == 3 else f"{tag} {i}".encode())
        records.append((DEFAULT_TOPIC, None, value, 0))
    produce_records(records)
    return time.time()


def wait_archived(api: Airflow, end: int, since: float) -> dict:
    """Wait until an archive event covers offsets up to ``end``; the run that archived it, and the latency."""
    deadline = time.monotonic() + ARCHIVE_DEADLINE_S
    while True:
        reached, event = archived_up_to(api)
        if reached >= end:
            run = api.wait_for_run(DAG, event["source_run_id"], ARCHIVE_DEADLINE_S)
            assert run["state"] == "success", api.explain(DAG, run["dag_run_id"])
            return {"run_id": run["dag_run_id"], "latency_s": _when(run["end_date"]).timestamp() - since}
        assert time.monotonic() < deadline, (
            f"offsets up to {end} not archived {ARCHIVE_DEADLINE_S}s after the burst (archived up to {reached}); "
            f"runs: {[(r['dag_run_id'], r['run_type'], r['state']) for r in runs(api)[:10]]}"
        )
        time.sleep(3)


def _end_offset() -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "test-events-probe"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(DEFAULT_TOPIC, 0), timeout=10)[1]
    finally:
        consumer.close()


def _run_burst(api: Airflow, size: int, tag: str) -> dict:
    wait_idle(api)
    before = {r["dag_run_id"] for r in runs(api)}
    sent_at = burst(size, tag)
    end = _end_offset()
    done = wait_archived(api, end, sent_at)
    time.sleep(QUIET_S)
    wait_idle(api)
    new = [r for r in runs(api) if r["dag_run_id"] not in before]
    figure = {
        "size": size,
        "runs": len(new),
        "run_types": sorted(r["run_type"] for r in new),
        "archived_by": done["run_id"],
        "latency_s": round(done["latency_s"], 1),
    }
    FIGURES["bursts"].append(figure)
    log.warning("burst %s", figure)
    for r in new:
        assert r["state"] == "success", api.explain(DAG, r["dag_run_id"])
    return figure


def test_bursts_of_1_100_and_10000_messages_each_start_a_run_and_are_archived_once(default_topic, api):
    hdfs = default_topic
    start = (ui.ui_dir() / "triggerer.log").stat().st_size
    api.set_paused(DAG, False)
    wait_for_watcher(api, start)
    # unpausing lets the scheduler start the due hourly slot: let it finish before the first burst
    time.sleep(10)
    wait_idle(api)
    for size in (1, 100, 10_000):
        figure = _run_burst(api, size, f"burst-{size}")
        # one run for the burst, at most one more for messages that arrived during it (never one per message);
        # an hourly slot that came due meanwhile is a scheduled run, not counted
        assert 1 <= figure["run_types"].count("asset_triggered") <= 2, figure
        time.sleep(10)  # a pause between bursts

    latencies = [b["latency_s"] for b in FIGURES["bursts"]]
    FIGURES["latency_p50_s"] = statistics.median(latencies)
    FIGURES["latency_max_s"] = max(latencies)
    # every message in the archive exactly once, byte for byte (an independent consumer, DuckDB and pyarrow)
    topic = sorted((0, o, k, v) for k, v, _, o in consume_all(DEFAULT_TOPIC, timeout_s=120))
    archived = [(p, o, k, v) for p, o, k, v, *_ in archive_rows(hdfs, OUTPUT_DIR, _tmp("bursts"))]
    assert len(topic) == 1 + 100 + 10_000
    assert any(v is None for *_, v in topic) and any(v == b"\xff\x00" for *_, v in topic)  # tombstones, binary
    assert archived == topic


def test_messages_arriving_during_a_run_start_exactly_one_more(default_topic, api):
    """A run goes; five bursts arrive while it runs (each fires the watcher): Airflow keeps one queued entry per
    asset and DAG and holds asset-triggered runs at max_active_runs (1), so they start one more run, not five."""
    wait_idle(api)
    start = (ui.ui_dir() / "triggerer.log").stat().st_size
    api.set_paused(DAG, False)
    if watchers_registered() == 0:
        wait_for_watcher(api, start)
    time.sleep(10)  # an hourly slot due at the unpause runs first
    wait_idle(api)
    before = {r["dag_run_id"] for r in runs(api)}
    sent_at = burst(1, "starts-a-run")
    deadline = time.monotonic() + ARCHIVE_DEADLINE_S
    while not [
        r
        for r in runs(api)
        if r["dag_run_id"] not in before and r["state"] == "running" and r["run_type"] == "asset_triggered"
    ]:
        assert time.monotonic() < deadline, "the burst started no run"
        time.sleep(1)
    fired = 0
    for i in range(5):
        burst(3, f"during-the-run-{i}")
        fired += 1
        time.sleep(3)
        if not api.active_runs(DAG):
            break
    end = _end_offset()
    done = wait_archived(api, end, sent_at)
    time.sleep(QUIET_S)
    wait_idle(api)
    new = [r for r in runs(api) if r["dag_run_id"] not in before]
    types = sorted(r["run_type"] for r in new)
    FIGURES["during_a_run"] = {"bursts_during_the_run": fired, "runs": types, "archived_by": done["run_id"]}
    assert fired >= 2, "the run ended before two bursts arrived: nothing tested"
    assert types.count("asset_triggered") == 2, FIGURES["during_a_run"]
    for r in new:
        assert r["state"] == "success", api.explain(DAG, r["dag_run_id"])


def _tmp(name: str):
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix=f"test-events-{name}-"))


@pytest.mark.parametrize("order", ["kill-then-produce", "produce-then-kill"])
def test_a_burst_around_a_killed_triggerer_is_archived_by_a_later_run(default_topic, api, order):
    """kill -9 of the triggerer just before a burst, or just after it (while its watcher may hold the messages
    with their event not yet stored); then the triggerer started again (as `make ui` would; supervisord does not
    restart it). The watcher's group never committed past an event that was not stored, so the new triggerer's
    consumer reads the burst again and fires, once it has taken over the dead one's triggers; or the event was
    stored before the kill and its run archives the burst. Either way a later run archives it."""
    wait_idle(api)
    api.set_paused(DAG, False)
    sup = ui.supervisor()
    pid = sup.program_pid("triggerer")
    assert pid, "no triggerer running"
    if order == "kill-then-produce":
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        sent_at = burst(50, "while-triggerer-dead")
    else:
        sent_at = burst(50, "just-before-the-kill")
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    end = _end_offset()
    time.sleep(5)
    if not sup.program_pid("triggerer"):
        sup.start("triggerer")
    done = wait_archived(api, end, sent_at)
    FIGURES[f"triggerer_killed_{order}"] = {"latency_s": round(done["latency_s"], 1), "archived_by": done["run_id"]}


def watchers_registered() -> int:
    """How many asset watchers Airflow has registered (the UI's metadata database, read only)."""
    import sqlite3

    url = ui.database_url()
    assert url.startswith("sqlite:///"), f"this test reads the UI's SQLite database, not {url}"
    with sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT count(*) FROM asset_watcher").fetchone()[0]


def wait_watchers(count: int, deadline_s: float = WATCHER_DEADLINE_S) -> float:
    began = time.monotonic()
    while watchers_registered() != count:
        assert time.monotonic() - began < deadline_s, f"asset watchers still {watchers_registered()}, not {count}"
        time.sleep(2)
    return time.monotonic() - began


def test_a_burst_produced_while_the_dag_is_paused_is_archived_after_the_unpause(default_topic, api):
    """Paused: the dag-processor removes the watcher at its next parse of the file (its asset has no unpaused
    DAG) and Airflow queues no run for a paused DAG. A burst produced after that stays behind the watcher group's
    committed offset; on unpause the dag-processor registers the watcher again, its consumer resumes there, the
    burst fires it, and an asset-triggered run archives it."""
    wait_idle(api)
    api.set_paused(DAG, True)
    FIGURES["paused"] = {"watcher_removed_after_s": round(wait_watchers(0), 1)}
    sent_at = burst(20, "while-paused")
    end = _end_offset()
    time.sleep(15)
    assert archived_up_to(api)[0] < end, "archived while paused?"
    assert not api.active_runs(DAG)
    unpaused_at = time.time()
    api.set_paused(DAG, False)
    FIGURES["paused"]["watcher_back_after_s"] = round(wait_watchers(1), 1)
    done = wait_archived(api, end, sent_at)
    run = api.run(DAG, done["run_id"])
    FIGURES["paused"] |= {
        "latency_from_unpause_s": round(_when(run["end_date"]).timestamp() - unpaused_at, 1),
        "archived_by": done["run_id"],
        "run_type": run["run_type"],
    }
    assert run["run_type"] == "asset_triggered", FIGURES["paused"]


def test_an_unreachable_broker_is_a_clear_error_in_the_triggerers_log_and_the_watcher_recovers(default_topic, api):
    """#18 point 5: the broker killed (-9) under a running watcher: its error_cb (allowed by the provider's
    callback allowlist) logs it in words in the triggerer's log; once the broker is back, a burst still starts a
    run, with no triggerer restart."""
    from devstack.engine import Stack

    wait_idle(api)
    api.set_paused(DAG, False)
    triggerer_log = ui.ui_dir() / "triggerer.log"
    start = triggerer_log.stat().st_size
    triggerer = ui.supervisor().program_pid("triggerer")
    stack = Stack("single")
    os.kill(stack.pid("kafka"), signal.SIGKILL)
    killed_at = time.monotonic()
    try:
        while "Kafka watcher: broker unreachable" not in triggerer_log.read_text(errors="replace")[start:]:
            assert time.monotonic() - killed_at < 120, triggerer_log.read_text(errors="replace")[start:][-3000:]
            time.sleep(2)
        FIGURES["broker_down_logged_after_s"] = round(time.monotonic() - killed_at, 1)
    finally:
        stack.up(["kafka"])
    line = next(
        line
        for line in triggerer_log.read_text(errors="replace")[start:].splitlines()
        if "Kafka watcher: broker unreachable" in line
    )
    FIGURES["broker_down_line"] = line[:400]
    sent_at = burst(10, "after-broker-back")
    done = wait_archived(api, _end_offset(), sent_at)
    assert ui.supervisor().program_pid("triggerer") == triggerer, "the triggerer was restarted"
    FIGURES["broker_back"] = {"latency_s": round(done["latency_s"], 1), "archived_by": done["run_id"]}
