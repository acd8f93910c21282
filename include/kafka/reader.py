"""Reading a bounded range of a topic's records, with a deadline, keeping no consumer group offsets.

Reads ``read_committed`` (records of aborted transactions are skipped, as the read job skips them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from include.config import GROUP_PREFIX
from include.kafka.admin import quiet_config


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple = ()  # ((key, value bytes or None), ...) in the record's order


def read_range(
    config: dict[str, str],
    topic: str,
    start: dict[int, int],
    end: dict[int, int],
    deadline_s: float,
) -> Iterator[Record]:
    """Every record of ``topic`` with start[p] <= offset < end[p]; no consumer group offsets kept.

    ``deadline_s`` bounds the time without progress (a range of any size is read as long as records keep
    coming); raises TimeoutError naming what is missing when nothing arrives for that long.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    todo = {p: (start.get(p, 0), e) for p, e in end.items() if e > start.get(p, 0)}
    if not todo:
        return
    consumer = Consumer(
        {
            **quiet_config(config),
            "group.id": f"{GROUP_PREFIX}-verify",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            "isolation.level": "read_committed",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in todo.items()])
        position = {p: s for p, (s, _) in todo.items()}
        deadline = time.monotonic() + deadline_s
        while todo:
            if time.monotonic() > deadline:
                missing = {p: f"{position[p]}..{todo[p][1] - 1}" for p in todo}
                raise TimeoutError(
                    f"reading {topic} from {config['bootstrap.servers']}: offsets {missing} not read "
                    f"(nothing arrived for {deadline_s:.0f}s)"
                )
            # no more than what is left: consume() waits its whole timeout for a batch it can't fill
            left = sum(todo[p][1] - position[p] for p in todo)
            batch = consumer.consume(num_messages=max(1, min(5000, left)), timeout=1.0)
            if batch:
                deadline = time.monotonic() + deadline_s
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        # offsets may have gaps (e.g. transaction markers): at EOF past the end, the range is done
                        if msg.partition() in todo and msg.offset() >= todo[msg.partition()][1]:
                            del todo[msg.partition()]
                        continue
                    raise KafkaException(err)
                p, off = msg.partition(), msg.offset()
                if p not in todo:
                    continue
                position[p] = off + 1
                if off >= todo[p][1]:
                    del todo[p]
                    consumer.pause([TopicPartition(topic, p)])
                    continue
                yield Record(p, off, msg.key(), msg.value(), msg.timestamp()[1], tuple(msg.headers() or ()))
                if off + 1 >= todo[p][1]:
                    del todo[p]
                    consumer.pause([TopicPartition(topic, p)])
    finally:
        consumer.close()
