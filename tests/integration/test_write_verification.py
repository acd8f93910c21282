"""verify_messages' wait, on the real broker: the trigger only polls offsets (no rows), ends when the expected
number of messages can be read, and at its deadline when they can't; the comparison that follows names what
differs. (The DAG runs in tests/integration/test_write_to_kafka_dag.py and test_faults.py use the whole sensor.)"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from include.kafka import admin, offsets
from tests.support.kafka import produce_records

pytestmark = pytest.mark.integration


def first_event(trigger, limit_s: float):
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(asyncio.wait_for(first(), timeout=limit_s))


@pytest.fixture
def topic(unique, kafka_config, cleanup_topics):
    name = f"wait-{unique}"
    cleanup_topics(name)
    admin.ensure_topic(kafka_config, name, 2, 1)
    return name


def test_the_trigger_ends_when_the_expected_messages_can_be_read_and_carries_no_rows(topic, kafka_config):
    from expected_messages import MessagesArrivedTrigger

    start = {topic: offsets.end_offsets(kafka_config, topic)}
    produce_records([(topic, b"early", b"1", None)])
    trigger = MessagesArrivedTrigger("kafka_default", start, {topic: 3}, timeout_s=60, poll_s=0.5)
    _, kwargs = trigger.serialize()
    assert set(kwargs) == {"kafka_conn_id", "start", "needed", "timeout_s", "poll_s"}
    assert len(json.dumps(kwargs)) < 500  # offsets and counts, nothing that grows with the rows

    late = threading.Timer(2.0, produce_records, [[(topic, b"k1", b"2", None), (topic, b"k2", b"3", None)]])
    late.start()
    started = time.monotonic()
    event = first_event(trigger, limit_s=90)
    late.join()
    assert event["status"] == "reached", event
    assert event["arrived"] == {topic: 3}
    assert time.monotonic() - started >= 1.5  # it waited for the late two


def test_the_trigger_ends_at_its_deadline_when_messages_are_missing(topic, kafka_config):
    from expected_messages import MessagesArrivedTrigger

    start = {topic: offsets.end_offsets(kafka_config, topic)}
    produce_records([(topic, b"only", b"1", None)])
    started = time.monotonic()
    event = first_event(MessagesArrivedTrigger("kafka_default", start, {topic: 2}, timeout_s=3, poll_s=0.5), 60)
    assert event["status"] == "deadline" and event["arrived"] == {topic: 1}
    assert 3 <= time.monotonic() - started < 30


def test_an_unreachable_broker_is_an_error_event_naming_it(topic, monkeypatch):
    from expected_messages import MessagesArrivedTrigger

    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_NOWHERE",
        json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:1"}}),
    )
    event = first_event(MessagesArrivedTrigger("kafka_nowhere", {topic: {"0": 0}}, {topic: 1}, 30, 0.5), 120)
    assert event["status"] == "error" and "127.0.0.1:1" in event["error"]
