"""Event-driven reads: which arriving message starts a read_from_kafka run, and what the watcher logs.

The watcher (plugins/topic_arrival.py) sees every message of the topic, through one shared consumer in the
triggerer, and must start a run for a burst without firing an asset event per message (10,000 messages would
be 10,000 events in the metadata database). The rule here:

    a message signals (fires an event) unless a later message of its partition is already known to be in Kafka
    (its offset + 1 < the partition's high watermark the consumer last fetched).

Why no message is left without a run: a message that does not signal has a later message in the same
partition, which the same consumer will deliver and judge by the same rule; the last message of that chain
signals, after every message before it was in Kafka. Its event, stored before the watcher's offset is committed
(the provider's ack channel), queues a run that records the topic's offsets after it starts, so the run reads
up to at least that message. A run already going when the event arrives leaves it queued: one more run, for all
events queued meanwhile (Airflow keeps one queued entry per asset and DAG).

The watcher's consumer group (``kafka-spark-airflow-watcher``) is only the watcher's: the read job reads from
its own checkpoint, and never from a group's committed offsets.

``log_client_error`` is the watcher connection's ``error_cb`` (listed in ``[apache_kafka] callback_allowlist``):
librdkafka reports an unreachable broker only through it, and the provider's default prints to stdout.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# how often one kind of client error is logged again while it persists (librdkafka repeats it at every retry)
ERROR_LOG_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Arrival:
    """One message as the watcher sees it: where it is, and the partition's end when it was fetched. Neither its
    key nor its value: a tombstone (null value) or a binary one is a message like any other."""

    topic: str
    partition: int
    offset: int
    high_watermark: int | None  # None: not known (librdkafka had no fetch response to tell it)


def signals(arrival: Arrival) -> bool:
    """True unless a later message of the partition is known to be in Kafka (see the module's doc)."""
    return arrival.high_watermark is None or arrival.offset + 1 >= arrival.high_watermark


def event_payload(arrival: Arrival) -> dict[str, Any]:
    """The trigger event's payload, stored as the asset event's extra: where the signalling message is."""
    return {"topic": arrival.topic, "partition": arrival.partition, "offset": arrival.offset}


def arrival_of(message: Any, consumer: Any) -> Arrival:
    """An Arrival from a confluent-kafka message, with the high watermark the consumer last fetched (cached: no
    request to the broker)."""
    from confluent_kafka import TopicPartition

    topic, partition = message.topic(), message.partition()
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
    except Exception:  # noqa: BLE001 - not known: signal
        high = None
    return Arrival(topic, partition, message.offset(), high if high is not None and high >= 0 else None)


class _Throttle:
    """Let one kind of message through at most every ``interval_s``, counting the ones held back."""

    def __init__(self, interval_s: float = ERROR_LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, kind: str) -> int | None:
        """None: hold it back; else how many of this kind were held back since the last one let through."""
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(kind, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._last[kind] = (last, held + 1)
                return None
            self._last[kind] = (now, 0)
            return held


_throttle = _Throttle()


def describe_client_error(name: str, text: str) -> str:
    """An error librdkafka reported to the watcher, in words: what failed, and what happens next."""
    if name in ("_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE"):
        return (
            f"Kafka watcher: broker unreachable ({name}: {text}). The watcher keeps retrying and resumes where its "
            "group's committed offset is when the broker is back; messages produced meanwhile are not lost. "
            "Check the broker and the watcher connection's bootstrap.servers."
        )
    if name in ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "TOPIC_AUTHORIZATION_FAILED"):
        return f"Kafka watcher: access refused ({name}: {text}): check the watcher connection's credentials and ACLs."
    return f"Kafka watcher: client error {name}: {text}"


def log_client_error(err: Any) -> None:
    """The watcher connection's ``error_cb``: each kind of error logged at ERROR, at most every
    ERROR_LOG_INTERVAL_S, with how many repeats were held back."""
    name, text = err.name(), err.str()
    held = _throttle.allow(name)
    if held is None:
        return
    suffix = f" ({held} repeat(s) of it in the last {ERROR_LOG_INTERVAL_S:.0f}s not logged)" if held else ""
    log.error("%s%s", describe_client_error(name, text), suffix)
