"""SCRAM users and ACLs of the local secure listener: what ``writer`` and ``reader`` may touch.

    python -m devstack acl setup                 # users + default grants (make up runs it; idempotent)
    python -m devstack acl grant --writer TOPIC  # writer may WRITE/DESCRIBE TOPIC and TOPIC.dlq
    python -m devstack acl grant --reader TOPIC  # reader may READ/DESCRIBE TOPIC
    python -m devstack acl list                  # every ACL on the broker

Default grants (``setup``): the tutorial's topic ``kafka-new-topic`` (and its ``.dlq``), and every topic whose
name starts with ``secure-`` (PREFIXED), to ``writer`` and to ``writer-mtls`` (the mTLS client certificate) to
write, to ``reader`` to read; the reader may READ consumer groups starting with ``kafka-spark-airflow`` (Spark's
``groupIdPrefix`` and the verifiers' groups). Nothing else: the authorizer denies what no ACL allows
(``allow.everyone.if.no.acl.found=false``).

``setup`` talks to the loopback PLAINTEXT listener (its ANONYMOUS principal is a super user: that is how the
very first users get created); ``grant``/``list`` use the admin principal over SASL_SSL, as on a real cluster.
No password is ever on a command line: they come from the 0600 secrets file.
"""

from __future__ import annotations

import argparse
import os
import sys

from devstack import secure
from devstack.nodes import stack_dir
from devstack.secure import ADMIN_CONN_ID, MTLS_USER, SCRAM_MECHANISM, secure_connection
from include.config import DEFAULT_TOPIC, DLQ_SUFFIX, GROUP_PREFIX

SCRAM_ITERATIONS = 8192
DEFAULT_PREFIX = "secure-"
WRITER_OPERATIONS = ("WRITE", "DESCRIBE")
READER_OPERATIONS = ("READ", "DESCRIBE")
TIMEOUT_S = 30.0


def _admin(config: dict[str, str]):
    from confluent_kafka.admin import AdminClient

    return AdminClient({**config, "socket.connection.setup.timeout.ms": "5000"})


def _wait(futures: dict, what: str) -> None:
    errors = []
    for key, future in futures.items():
        try:
            future.result(timeout=TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - collected and reported with what failed
            errors.append(f"{key}: {exc}")
    if errors:
        raise RuntimeError(f"{what} failed: " + "; ".join(errors))


def ensure_users(config: dict[str, str], passwords: dict[str, str]) -> None:
    """Create or update the SCRAM-SHA-512 credential of each user, so that the broker matches the secrets file.

    Works on a broker formatted before SCRAM users existed (it does not need `kafka-storage format --add-scram`).
    """
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    mechanism = getattr(ScramMechanism, SCRAM_MECHANISM.replace("-", "_"))
    upserts = [
        UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS), password.encode())
        for user, password in sorted(passwords.items())
    ]
    admin = _admin(config)  # keep a reference: the futures die with the client
    _wait(admin.alter_user_scram_credentials(upserts, request_timeout=TIMEOUT_S), "creating SCRAM users")


def _binding(resource: str, name: str, pattern: str, user: str, operation: str):
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    return AclBinding(
        getattr(ResourceType, resource),
        name,
        getattr(ResourcePatternType, pattern),
        f"User:{user}",
        "*",
        getattr(AclOperation, operation),
        AclPermissionType.ALLOW,
    )


def writer_bindings(topic: str, pattern: str = "LITERAL", user: str = "writer") -> list:
    """WRITE + DESCRIBE on the topic and its dead-letter topic (a PREFIXED pattern covers both)."""
    names = [topic] if pattern == "PREFIXED" else [topic, f"{topic}{DLQ_SUFFIX}"]
    return [_binding("TOPIC", n, pattern, user, op) for n in names for op in WRITER_OPERATIONS]


def reader_bindings(topic: str, pattern: str = "LITERAL", user: str = "reader") -> list:
    """READ + DESCRIBE on the topic, and READ on the project's consumer groups."""
    return [_binding("TOPIC", topic, pattern, user, op) for op in READER_OPERATIONS] + [
        _binding("GROUP", GROUP_PREFIX, "PREFIXED", user, "READ")
    ]


def grant(config: dict[str, str], bindings: list) -> None:
    """Create ACLs (creating an existing one again is a no-op for Kafka)."""
    unique = list(
        {(b.restype, b.name, b.resource_pattern_type, b.principal, b.operation): b for b in bindings}.values()
    )
    admin = _admin(config)
    _wait(admin.create_acls(unique, request_timeout=TIMEOUT_S), "creating ACLs")


def default_bindings() -> list:
    return [
        *writer_bindings(DEFAULT_TOPIC),
        *writer_bindings(DEFAULT_PREFIX, "PREFIXED"),
        # the mTLS listener's client certificate: the same grants as the SCRAM writer, as its own principal
        *writer_bindings(DEFAULT_TOPIC, user=MTLS_USER),
        *writer_bindings(DEFAULT_PREFIX, "PREFIXED", user=MTLS_USER),
        *reader_bindings(DEFAULT_TOPIC),
        *reader_bindings(DEFAULT_PREFIX, "PREFIXED"),
    ]


def list_acls(config: dict[str, str]) -> list:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    match_all = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    admin = _admin(config)
    return admin.describe_acls(match_all, request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)


def setup(plaintext_bootstrap: str | None = None) -> None:
    """Users and default ACLs, through the loopback PLAINTEXT listener (ANONYMOUS is a super user there)."""
    bootstrap = plaintext_bootstrap or f"localhost:{int(os.environ.get('KAFKA_PORT', '9092'))}"
    config = {"bootstrap.servers": bootstrap}
    ensure_users(config, secure.load_secrets(stack_dir())["users"])
    grant(config, default_bindings())


def admin_config() -> dict[str, str]:
    conn = secure_connection(ADMIN_CONN_ID)
    assert conn is not None
    return conn["extra"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack acl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("setup", help="SCRAM users and default ACLs (make up runs this)")
    g = sub.add_parser("grant", help="grant writer and/or reader rights on a topic")
    g.add_argument("--writer", metavar="TOPIC", action="append", default=[], help="WRITE/DESCRIBE TOPIC and TOPIC.dlq")
    g.add_argument("--reader", metavar="TOPIC", action="append", default=[], help="READ/DESCRIBE TOPIC")
    g.add_argument("--prefixed", action="store_true", help="TOPIC is a name prefix, not a literal name")
    sub.add_parser("list", help="every ACL on the broker")
    args = parser.parse_args(argv)
    try:
        if args.verb == "setup":
            setup()
            print("kafka: SCRAM users admin, writer, reader and the default ACLs are in place")
        elif args.verb == "grant":
            if not args.writer and not args.reader:
                parser.error("grant: give --writer TOPIC and/or --reader TOPIC")
            from include.kafka.admin import validate_topic_name

            pattern = "PREFIXED" if args.prefixed else "LITERAL"
            bindings = []
            for topic in args.writer:
                bindings += writer_bindings(validate_topic_name(topic), pattern)
            for topic in args.reader:
                bindings += reader_bindings(validate_topic_name(topic), pattern)
            grant(admin_config(), bindings)
            for b in bindings:
                print(
                    f"granted {b.principal} {b.operation.name} on {b.restype.name} {b.name} "
                    f"({b.resource_pattern_type.name})"
                )
        else:
            for b in list_acls(admin_config()):
                print(
                    f"{b.principal} {b.permission_type.name} {b.operation.name} "
                    f"{b.restype.name} {b.name} ({b.resource_pattern_type.name})"
                )
    except (RuntimeError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0
