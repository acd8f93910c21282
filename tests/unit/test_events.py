"""Event-driven reads and asset events, the pure parts: which message signals, what the watcher logs, the asset
URI a connection names, and what an asset event's extra carries."""

from __future__ import annotations

import logging

import pytest

from include.assets import MAX_FILES_IN_EVENT, archive_asset_uri, read_event_extra, write_event_extra
from include.kafka import arrival
from include.kafka.arrival import Arrival, event_payload, signals
from include.plans import topic_asset_uri


def test_only_the_last_known_message_of_a_partition_signals():
    # a burst of 5 fetched at once (high watermark 105): only offset 104 fires
    fired = [o for o in range(100, 105) if signals(Arrival("t", 0, o, 105))]
    assert fired == [104]


def test_a_message_whose_partition_end_is_unknown_or_behind_signals():
    assert signals(Arrival("t", 0, 7, None))
    assert signals(Arrival("t", 0, 7, 8))
    assert signals(Arrival("t", 0, 7, 3))  # a stale cached watermark never silences a message


def test_every_message_of_any_burst_is_covered_by_a_later_or_equal_signal():
    """The guarantee in include/kafka/arrival.py: whatever the fetch boundaries, every offset has a signalling
    offset at or after it in the same partition."""
    import random

    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 300)
        cuts = sorted(rng.sample(range(1, n + 1), rng.randint(1, min(n, 10))))
        if cuts[-1] != n:
            cuts.append(n)
        high = {}
        start = 0
        for cut in cuts:  # each fetch returns [start, cut) and knows the end then was cut (or later)
            for o in range(start, cut):
                high[o] = rng.randint(cut, n)
            start = cut
        # the last fetch knows the partition's end exactly (nothing after n)
        for o in range(cuts[-2] if len(cuts) > 1 else 0, n):
            high[o] = n
        fired = [o for o in range(n) if signals(Arrival("t", 0, o, high[o]))]
        assert fired and fired[-1] == n - 1
        assert all(any(f >= o for f in fired) for o in range(n))


def test_the_event_payload_holds_no_message_bytes_and_is_json():
    import json

    payload = event_payload(Arrival("t", 2, 41, 42))
    assert payload == {"topic": "t", "partition": 2, "offset": 41}
    json.dumps(payload)


class _Message:
    """A confluent-kafka message as the watcher gets it: a tombstone (null value) or a binary value."""

    def __init__(self, offset, value, key=None):
        self._offset, self._value, self._key = offset, value, key

    def topic(self):
        return "t"

    def partition(self):
        return 0

    def offset(self):
        return self._offset

    def value(self):  # never read by the watcher
        raise AssertionError("the watcher must not read a message's value")

    def key(self):
        raise AssertionError("the watcher must not read a message's key")


class _Consumer:
    def __init__(self, high):
        self.high = high

    def get_watermark_offsets(self, tp, cached=False):
        assert cached, "the watcher asks librdkafka's cache, not the broker"
        return 0, self.high


@pytest.mark.parametrize("value", [None, b"\xff\xfe\x00binary"])
def test_a_tombstone_or_a_binary_value_with_a_null_key_is_an_arrival_like_any_other(value):
    got = arrival.arrival_of(_Message(9, value), _Consumer(10))
    assert got == Arrival("t", 0, 9, 10) and signals(got)


def test_an_unknown_high_watermark_is_none():
    assert arrival.arrival_of(_Message(9, None), _Consumer(-1001)).high_watermark is None


class _Err:
    def __init__(self, name, text):
        self._name, self._text = name, text

    def name(self):
        return self._name

    def str(self):
        return self._text


def test_an_unreachable_broker_is_logged_once_per_interval_in_words(caplog, monkeypatch):
    monkeypatch.setattr(arrival, "_throttle", arrival._Throttle(interval_s=3600))
    err = _Err("_TRANSPORT", "localhost:39092/1: Connect to ipv4#127.0.0.1:39092 failed: Connection refused")
    with caplog.at_level(logging.ERROR, logger="include.kafka.arrival"):
        for _ in range(5):
            arrival.log_client_error(err)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("Kafka watcher: broker unreachable (_TRANSPORT: localhost:39092/1: Connect")
    assert "resumes" in lines[0]


def test_topic_asset_uri_is_the_same_for_the_same_brokers_in_any_order_or_case():
    a = topic_asset_uri("b2:9092,b1:9092", "t")
    assert a == topic_asset_uri(" B1:9092 , b2:9092", "t") == "kafka://b1:9092/t"
    with pytest.raises(ValueError, match="no bootstrap server"):
        topic_asset_uri(" , ", "t")


def test_write_event_extra_has_topic_ranges_counts_files_and_run():
    plan = {"topic": "t", "dlq_topic": "t.dlq", "hdfs_dir": "/user/a/in", "bootstrap_servers": "b:1"}
    recorded = {"offsets": {"t": {"0": 3}, "t.dlq": {"0": 0}}, "batch_before": 0}
    summary = {
        "arrived_valid": 5,
        "arrived_dead_letters": 2,
        "duplicates": 1,
        "files": [f"hdfs://nn/user/a/in/f{i}.csv" for i in range(MAX_FILES_IN_EVENT + 5)],
        "ranges": {"t": {"0": [3, 9]}, "t.dlq": {"0": [0, 2]}},
    }
    extra = write_event_extra(plan, recorded, summary, "manual__1")
    assert extra["run_id"] == "manual__1" and extra["topic"] == "t"
    assert extra["rows"] == {"valid": 5, "dead_lettered": 2, "duplicates": 1}
    assert extra["offsets"]["ranges"] == {"t": {"0": [3, 9]}, "t.dlq": {"0": [0, 2]}}
    assert len(extra["files"]) == MAX_FILES_IN_EVENT and extra["files_total"] == MAX_FILES_IN_EVENT + 5
    assert "bootstrap_servers" not in str(extra)


def test_read_event_extra_names_the_archive_partitions():
    plan = {"topic": "t", "output_dir": "/user/a/t-archive"}
    result = {"checked": 4, "ranges": {"0": [0, 4]}, "batches": [0, 1]}
    files = ["/user/a/t-archive/date=2026-12-03/part-0.parquet", "/user/a/t-archive/date=2026-12-02/part-1.parquet"]
    extra = read_event_extra(plan, result, files, "asset_triggered__x")
    assert extra["archive_partitions"] == ["date=2026-12-02", "date=2026-12-03"]
    assert extra["rows"] == {"valid": 4, "dead_lettered": 0, "duplicates": 0}
    assert extra["offsets"]["ranges"] == {"0": [0, 4]} and extra["files_total"] == 2
    assert archive_asset_uri("hdfs://nn:8020/", "/user/a/t-archive") == "hdfs://nn:8020/user/a/t-archive"
