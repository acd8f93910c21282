"""Kafka administration: is the broker there, do the topics exist as asked, may a principal use them.

One implementation for both DAGs. Every call has a deadline; an unreachable broker fails fast with an
error that names host and port.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from include.config import DLQ_SUFFIX, KAFKA_TOPIC_MAX_CHARS, TOPIC_CHARS, TOPIC_PATTERN

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
# replication_factor of ensure_topic: the brokers' own default.replication.factor (what a user of a cluster
# expects when they don't say), looked up on the cluster and required of an existing topic too
CLUSTER_DEFAULT = "cluster-default"


class KafkaUnreachable(RuntimeError):
    """The broker did not answer in time."""


class TopicMismatch(RuntimeError):
    """A topic exists with a layout other than the one asked for."""


class KafkaAccessDenied(PermissionError):
    """The connection's principal lacks a permission; the message names the principal, the operation and the fix."""


class TopicAccessDenied(RuntimeError):
    """Metadata of a topic was refused (no DESCRIBE)."""


# Kafka error codes of an authorization failure (TOPIC_, GROUP_, CLUSTER_AUTHORIZATION_FAILED)
AUTHORIZATION_FAILED = (29, 30, 31)


def _principal(config: dict[str, str]) -> str:
    from include.kafka.security import principal

    return principal(config)


def require_operations(
    config: dict[str, str], topics: list[str], operations: list[str], conn_id: str, timeout: float = DEFAULT_TIMEOUT_S
) -> None:
    """Fail unless the connection's principal may do ``operations`` (e.g. WRITE, DESCRIBE) on every topic.

    Asks the broker which operations this principal is authorized for (DescribeTopics with authorized
    operations), so that a missing ACL fails the run before Spark starts, with a message that says what to grant.
    """
    from confluent_kafka import KafkaException, TopicCollection
    from confluent_kafka.admin import AdminClient

    who = _principal(config)
    admin = AdminClient(quiet_config(config))
    futures = admin.describe_topics(
        TopicCollection(topics), request_timeout=timeout, include_authorized_operations=True
    )
    role = "--writer" if "WRITE" in operations else "--reader"
    for topic in topics:
        try:
            description = futures[topic].result(timeout=timeout)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if getattr(err, "code", lambda: None)() in AUTHORIZATION_FAILED:
                raise KafkaAccessDenied(
                    f"{who} (connection {conn_id!r}) may not DESCRIBE topic {topic!r} on "
                    f"{config['bootstrap.servers']}, "
                    f"so it may not {'/'.join(operations)} it either. An admin can grant it: "
                    f"python -m devstack acl grant {role} {topic}"
                ) from exc
            raise
        granted = {getattr(op, "name", str(op)) for op in (description.authorized_operations or [])}
        if "ALL" in granted:
            continue
        missing = [op for op in operations if op not in granted]
        if missing:
            raise KafkaAccessDenied(
                f"{who} (connection {conn_id!r}) lacks {', '.join(missing)} on topic {topic!r} at "
                f"{config['bootstrap.servers']} (it has: {', '.join(sorted(granted)) or 'nothing'}). An admin can "
                f"grant it: python -m devstack acl grant {role} {topic}"
            )


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def validate_topic_name(topic: str) -> str:
    """A topic a user names (it gets a dead-letter topic): config.TOPIC_PATTERN, checked before anything talks
    to a broker."""
    if not isinstance(topic, str) or not topic.strip():
        raise ValueError("topic is empty: give a Kafka topic name such as 'kafka-new-topic'")
    if topic in (".", ".."):
        raise ValueError(f"topic {topic!r} is not allowed by Kafka")
    if topic.startswith("-"):
        raise ValueError(
            f"invalid topic name {topic!r}: a leading '-' is refused (the Spark job would read it as an option)"
        )
    if topic.startswith("__"):
        raise ValueError(f"invalid topic name {topic!r}: names starting with '__' are Kafka's internal topics")
    if not re.fullmatch(TOPIC_PATTERN, topic):
        raise ValueError(
            f"invalid topic name {topic!r}: Kafka allows only ASCII letters, digits, '.', '_' and '-', and "
            f"its dead-letter topic {dlq_topic(topic)!r} must fit Kafka's {KAFKA_TOPIC_MAX_CHARS} characters"
        )
    return topic


def check_kafka_topic_name(topic: str) -> str:
    """Any topic Kafka accepts (a dead-letter topic included): Kafka's characters, at most its length."""
    if topic in (".", "..") or not re.fullmatch(f"[{TOPIC_CHARS}]{{1,{KAFKA_TOPIC_MAX_CHARS}}}", topic or ""):
        raise ValueError(
            f"invalid topic name {topic!r}: Kafka allows only ASCII letters, digits, '.', '_' and '-', "
            f"at most {KAFKA_TOPIC_MAX_CHARS} characters"
        )
    return topic


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    out = []
    for item in bootstrap_servers.split(","):
        item = item.strip()
        if "://" in item:
            item = item.split("://", 1)[1]
        host, _, port = item.rpartition(":")
        out.append((host.strip("[]") or item, int(port or 9092)))
    return out


def prepare_job_topics(
    admin_config: dict[str, str],
    job_config: dict[str, str],
    job_conn_id: str,
    topics: list[str],
    partitions: int | None,
    replication_factor: int | str | None,
    operations: list[str],
) -> list[TopicState]:
    """The create_topic task of both DAGs: the broker answers, every topic exists as asked (created by the
    admin connection), and the job's principal may do ``operations`` on them (checked before Spark starts)."""
    check_broker(admin_config)
    states = [ensure_topic(admin_config, name, partitions, replication_factor) for name in topics]
    require_operations(job_config, topics, operations, job_conn_id)
    return states


def check_broker(config: dict[str, str], timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Raise KafkaUnreachable, naming host and port, unless a broker answers a metadata request in time."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    bootstrap = config["bootstrap.servers"]
    errors = []
    for host, port in bootstrap_addresses(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=min(timeout, 5.0)):
                pass
            break
        except OSError as exc:
            errors.append(f"{host}:{port} ({exc.strerror or exc})")
    else:
        raise KafkaUnreachable(f"Kafka broker unreachable at {', '.join(errors)} - is it running? (locally: 'make up')")
    try:
        AdminClient(quiet_config(config)).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnreachable(
            f"Kafka broker at {bootstrap} accepted a connection but answered no metadata within {timeout:.0f}s: {exc}"
        ) from exc


def quiet_config(config: dict[str, str]) -> dict[str, str]:
    """Client config that gives up on a dead broker instead of logging reconnects forever."""
    out = dict(config)
    out.setdefault("socket.connection.setup.timeout.ms", "5000")
    out.setdefault("reconnect.backoff.max.ms", "2000")
    return out


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    replication_factor: int
    created: bool
    min_insync_replicas: int = 1


@dataclass(frozen=True)
class TopicsReady:
    """The topics a job uses, as they are after create_topics: {name: {partitions, replication_factor,
    created}} in XCom (the same shape in both DAGs)."""

    topics: tuple[TopicState, ...]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {
            t.name: {"partitions": t.partitions, "replication_factor": t.replication_factor, "created": t.created}
            for t in self.topics
        }


def ensure_topic(
    config: dict[str, str],
    topic: str,
    partitions: int | None,
    replication_factor: int | str | None,
    timeout: float = 30.0,
) -> TopicState:
    """Create ``topic`` if it does not exist; if it does, its partition count and RF must match. Then check
    that a write with acks=all can be acknowledged: the topic's min.insync.replicas is at most its RF.

    ``None`` for partitions accepts whatever an existing topic has, and creates a new one with 1.
    ``replication_factor``: a number; ``CLUSTER_DEFAULT``, the brokers' default.replication.factor; or
    ``None``, whatever an existing topic has (a new one gets the brokers' default).
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    check_kafka_topic_name(topic)
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    admin = AdminClient(quiet_config(config))
    if (
        replication_factor is not None
        and replication_factor != CLUSTER_DEFAULT
        and (not isinstance(replication_factor, int) or replication_factor < 1)
    ):
        raise ValueError(f"replication_factor must be >= 1 or {CLUSTER_DEFAULT!r}, got {replication_factor!r}")
    try:
        existing = describe_topic(admin, topic, timeout)
    except TopicAccessDenied as exc:
        raise KafkaAccessDenied(
            f"{_principal(config)} may not DESCRIBE (nor CREATE) topic {topic!r} on {config['bootstrap.servers']}: "
            "create topics with an admin connection (param kafka_admin_conn_id, e.g. kafka_secure_admin)"
        ) from exc
    created = False
    if existing is None:
        # a new topic with the cluster's default: -1 lets the brokers apply default.replication.factor (KIP-464),
        # so no broker config needs to be read (that needs DESCRIBE_CONFIGS on the cluster)
        new_rf = -1 if replication_factor in (None, CLUSTER_DEFAULT) else replication_factor
        if replication_factor == CLUSTER_DEFAULT:
            replication_factor = None  # whatever the brokers applied
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions or 1, replication_factor=new_rf)],
            request_timeout=timeout,
        )
        try:
            futures[topic].result(timeout=timeout)
            created = True
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() in AUTHORIZATION_FAILED:
                raise KafkaAccessDenied(
                    f"{_principal(config)} may not CREATE topic {topic!r} on {config['bootstrap.servers']} "
                    f"({err.str()}): create topics with an admin connection (param kafka_admin_conn_id, "
                    "e.g. kafka_secure_admin)"
                ) from exc
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {topic!r} on {config['bootstrap.servers']}: {exc}") from exc
        existing = _wait_for_topic(admin, topic, timeout)
    elif replication_factor == CLUSTER_DEFAULT:  # an existing topic must have the cluster's default RF
        replication_factor = broker_default_replication_factor(admin, timeout)
    actual_partitions, actual_rf = existing
    if partitions is not None and actual_partitions != partitions:
        raise TopicMismatch(
            f"topic {topic!r} already exists with {actual_partitions} partition(s), not {partitions}: "
            f"use partitions={actual_partitions}, or another topic name"
        )
    if replication_factor is not None and actual_rf != replication_factor:
        raise TopicMismatch(
            f"topic {topic!r} already exists with replication factor {actual_rf}, not {replication_factor}: "
            f"use replication_factor={actual_rf}, or another topic name"
        )
    min_isr = check_min_insync_replicas(admin, topic, actual_rf, timeout)
    log.info(
        "topic %s %s (%d partitions, RF %d, min.insync.replicas %d)",
        topic,
        "created" if created else "exists: nothing to do",
        actual_partitions,
        actual_rf,
        min_isr,
    )
    return TopicState(topic, actual_partitions, actual_rf, created, min_isr)


def _config_value(admin, resource, name: str, timeout: float) -> str:
    """One config of a topic or broker (describe configs). A topic created a moment ago may not be known yet to
    the broker that answers (each learns it from the controller): asked again until ``timeout``."""
    from confluent_kafka import KafkaError, KafkaException

    deadline = time.monotonic() + timeout
    while True:
        try:
            entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout=timeout)
            break
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                raise
            if time.monotonic() > deadline:
                raise RuntimeError(f"describing {resource}: still unknown after {timeout:.0f}s: {exc}") from exc
            time.sleep(0.2)
    if name not in entries:
        raise RuntimeError(f"{resource} has no config {name!r}")
    return entries[name].value


def broker_default_replication_factor(admin, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """The cluster's default.replication.factor, as a broker reports it (describe configs)."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    brokers = sorted(admin.list_topics(timeout=timeout).brokers)
    if not brokers:
        raise RuntimeError("the Kafka cluster reported no brokers")
    resource = ConfigResource(ResourceType.BROKER, str(brokers[0]))
    return int(_config_value(admin, resource, "default.replication.factor", timeout))


def check_min_insync_replicas(admin, topic: str, replication_factor: int, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """The topic's effective min.insync.replicas (its own, or the brokers' default); an error when no write
    with acks=all could ever be acknowledged (min.insync.replicas > RF), a warning when an acknowledged
    write may exist on one broker only, or when a partition has fewer in-sync replicas right now."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    min_isr = int(_config_value(admin, ConfigResource(ResourceType.TOPIC, topic), "min.insync.replicas", timeout))
    if min_isr > replication_factor:
        raise TopicMismatch(
            f"topic {topic!r} has min.insync.replicas={min_isr} but replication factor {replication_factor}: "
            "no write with acks=all can be acknowledged. Lower the topic's min.insync.replicas "
            f"(kafka-configs --alter --entity-type topics --entity-name {topic} --add-config min.insync.replicas=N) "
            "or use another topic"
        )
    if replication_factor > 1 and min_isr < 2:
        log.warning(
            "topic %s: replication factor %d but min.insync.replicas=%d: a write acknowledged by one broker "
            "is lost if that broker's disk is; set min.insync.replicas=2 on the topic or the brokers",
            topic,
            replication_factor,
            min_isr,
        )
    partitions = admin.list_topics(topic=topic, timeout=timeout).topics[topic].partitions
    short = {p: len(info.isrs) for p, info in partitions.items() if len(info.isrs) < min_isr}
    if short:
        log.warning(
            "topic %s: partition(s) %s have fewer in-sync replicas than min.insync.replicas=%d right now "
            "(%s): writes with acks=all fail until the brokers catch up",
            topic,
            sorted(short),
            min_isr,
            short,
        )
    return min_isr


def describe_topic(admin, topic: str, timeout: float) -> tuple[int, int] | None:
    """(partitions, replication factor) of ``topic``, or None when it does not exist."""
    metadata = admin.list_topics(topic=topic, timeout=timeout)
    info = metadata.topics.get(topic)
    if info is None or (info.error is not None and info.error.code() in (3,)):  # UNKNOWN_TOPIC_OR_PART
        return None
    if info.error is not None and info.error.code() in AUTHORIZATION_FAILED:
        raise TopicAccessDenied(f"metadata for topic {topic!r}: {info.error}")
    if info.error is not None:
        raise RuntimeError(f"metadata for topic {topic!r}: {info.error}")
    parts = info.partitions
    rf = min((len(p.replicas) for p in parts.values()), default=0)
    return len(parts), rf


def _wait_for_topic(admin, topic: str, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        state = describe_topic(admin, topic, timeout)
        if state is not None and state[0] > 0:
            return state
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} was created but did not appear in metadata within {timeout:.0f}s")
        time.sleep(0.2)


def require_topic(config: dict[str, str], topic: str, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """The partition count of an existing topic; a clear error when it does not exist."""
    from confluent_kafka.admin import AdminClient

    state = describe_topic(AdminClient(quiet_config(config)), topic, timeout)
    if state is None:
        raise ValueError(
            f"topic {topic!r} does not exist on {config['bootstrap.servers']}: create it first (create_topic)"
        )
    return state[0]


def topic_id(config: dict[str, str], topic: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Kafka's id of this incarnation of ``topic``: it changes when the topic is deleted and recreated."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(quiet_config(config))
    description = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)[topic].result(timeout)
    return str(description.topic_id)
