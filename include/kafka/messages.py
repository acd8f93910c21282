"""Callables for the Kafka provider's ProduceToTopicOperator (dotted paths, importable by any worker)."""

from __future__ import annotations

from collections.abc import Iterator


def unkeyed(messages: list[str]) -> Iterator[tuple[None, bytes]]:
    """Each string as one UTF-8 message with a null key, as kafka-console-producer sends them."""
    for message in messages:
        yield None, message.encode("utf-8")


def raise_on_error(err, msg) -> None:
    """Delivery callback: a message the broker did not take fails the task (confluent-kafka re-raises it from
    flush()), instead of being logged and lost."""
    if err is not None:
        raise RuntimeError(f"message to {msg.topic()} not delivered: {err}")
