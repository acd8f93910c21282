"""The trigger behind read_from_kafka's AssetWatcher: a run when messages arrive, not one per message.

``TopicArrivalTrigger`` is the Kafka provider's ``KafkaSharedStreamTrigger`` (one shared consumer per topics
and connection in the triggerer; offsets committed only after the trigger's events are stored, through Airflow
3.3's shared-stream ack channel) with three changes:

- its producer hands the filter where each message is (topic, partition, offset, the partition's high
  watermark), never the message's bytes: a tombstone (null value) or a binary value can't fail a decode;
- the filter fires an event only for a message with no later message known in its partition
  (include.kafka.arrival.signals): a burst of any size gives one event per partition, and no message is left
  without a run (the proof is in include/kafka/arrival.py);
- a consumer error that is not fatal (the topic does not exist yet, a broker went away) is logged and the
  poll goes on; librdkafka reconnects by itself. A fatal one ends the stream (the triggerer reports it).

The connection (``kafka_watcher`` by default) must set ``enable.auto.commit=false`` (the provider refuses to
start otherwise) and its own ``group.id``; its ``error_cb`` (include.kafka.arrival.log_client_error, allowed by
``[apache_kafka] callback_allowlist``) logs an unreachable broker in the triggerer's log. docs/events.md.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Hashable
from typing import Any

from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.triggers.shared_stream import (
    KafkaBrokerPayload,
    KafkaSharedStreamProducer,
    KafkaSharedStreamTrigger,
)
from airflow.triggers.base import TriggerEvent
from asgiref.sync import sync_to_async

from include.kafka.arrival import arrival_of, event_payload, signals

log = logging.getLogger(__name__)

# messages taken from librdkafka's queue per call (fewer than the triggerer's per-subscriber queue, 1024)
CONSUME_BATCH = 200


class TopicArrivalProducer(KafkaSharedStreamProducer):
    """The provider's producer, yielding an include.kafka.arrival.Arrival per message as the raw event."""

    async def open_stream(self) -> AsyncIterator[tuple[Any, KafkaBrokerPayload]]:
        hook = KafkaConsumerHook(topics=self.topics, kafka_config_id=self.kafka_config_id)
        await self._ensure_manual_commit(hook)
        consumer = await sync_to_async(hook.get_consumer)()
        self._consumer = consumer
        # a batch per call: each call hops to a worker thread, which at one message per call (the provider's
        # poll) took ~7 ms a message, 75 s for a burst of 10,000 (make test-events)
        consume = sync_to_async(consumer.consume)
        log.info("Kafka watcher: consuming %s through connection %r", self.topics, self.kafka_config_id)
        while True:
            for message in await consume(num_messages=CONSUME_BATCH, timeout=self.poll_timeout):
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise RuntimeError(f"Kafka watcher on {self.topics}: fatal consumer error: {error}")
                    log.warning("Kafka watcher on %s: %s (going on)", self.topics, error)
                    continue
                arrival = arrival_of(message, consumer)
                payload = KafkaBrokerPayload(topic=arrival.topic, partition=arrival.partition, offset=arrival.offset)
                yield arrival, payload


class TopicArrivalTrigger(KafkaSharedStreamTrigger):
    """One event per burst and partition (see the module's doc); its payload is where the last message is."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.TopicArrivalTrigger",
            {
                "topics": self.topics,
                "kafka_config_id": self.kafka_config_id,
                "poll_timeout": self.poll_timeout,
                "dlq_topic": self.dlq_topic,
            },
        )

    def shared_stream_key(self) -> Hashable:
        # not the provider's key: a stock KafkaSharedStreamTrigger on the same topics has another producer
        return "kafka-topic-arrival", tuple(self.topics), self.kafka_config_id

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> TopicArrivalProducer:
        return TopicArrivalProducer(
            topics=kwargs["topics"],
            kafka_config_id=kwargs["kafka_config_id"],
            poll_timeout=kwargs["poll_timeout"],
            dlq_topic=kwargs.get("dlq_topic"),
        )

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for arrival in shared_stream:
            if signals(arrival):
                yield TriggerEvent(event_payload(arrival))
