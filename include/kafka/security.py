"""Secured Kafka: who a connection is, its secrets kept out of every log, and how a secret reaches Spark
without a trace.

A connection's ``extra`` is a confluent-kafka configuration. Spark's Kafka connector is a Java client:
``java_client_options`` turns the same settings into Java properties (``sasl.jaas.config``, a PEM
truststore). They travel to the Spark driver in a 0600 file whose *path* is the only thing on spark-submit's
command line (plugins/kafka_spark_submit.py); the job reads it and sets the options in memory.

The local stack's three principals (``kafka_secure_admin`` / ``_writer`` / ``_reader`` on the SASL_SSL
listener ``localhost:9093``) are served by the local secrets backend (include/secrets_backend.py, the local
stack's); a deployment gives the same connection ids from its own vault.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Keys of a client config whose values are secret (masked in Airflow logs; never on a command line)
SECRET_KEY = re.compile(r"(?i)password|secret|jaas|token|credential")

JAAS_MODULES = {
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


def principal(config: dict[str, str]) -> str:
    """Who the broker sees: the SASL user, or ANONYMOUS on a listener without SASL."""
    if "SASL" in config.get("security.protocol", "PLAINTEXT").upper():
        return f"User:{config.get('sasl.username', '?')}"
    return "User:ANONYMOUS"


def secret_values(config: dict[str, str]) -> list[str]:
    """The values of ``config`` that must never be logged."""
    return [v for k, v in config.items() if SECRET_KEY.search(k) and v]


def mask_config_secrets(config: dict[str, str]) -> None:
    """Register the config's secrets with Airflow's masker (task log, and the supervisor's), when in Airflow."""
    values = secret_values(config)
    if not values:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # outside Airflow (a job, a CLI)
        return
    for value in values:
        mask_secret(value)


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(mechanism: str, username: str, password: str) -> str:
    module = JAAS_MODULES.get(mechanism.upper())
    if module is None:
        raise ValueError(f"SASL mechanism {mechanism!r} is not supported here; use one of {sorted(JAAS_MODULES)}")
    return f"{module} required username={_jaas_quote(username)} password={_jaas_quote(password)};"


def java_client_options(config: dict[str, str]) -> dict[str, str]:
    """The security part of a confluent-kafka config as Java client properties (without Spark's ``kafka.``).

    Empty for a plaintext connection. Only security settings are translated: tuning stays in the jobs.
    """
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return {}
    out = {"security.protocol": protocol}
    if "SASL" in protocol:
        mechanism = config.get("sasl.mechanism") or config.get("sasl.mechanisms") or "GSSAPI"
        out["sasl.mechanism"] = mechanism.upper()
        if "sasl.username" not in config or "sasl.password" not in config:
            raise ValueError(f"SASL mechanism {mechanism} needs sasl.username and sasl.password in the connection")
        out["sasl.jaas.config"] = jaas_config(mechanism, config["sasl.username"], config["sasl.password"])
    if "SSL" in protocol:
        if config.get("ssl.ca.location"):
            out["ssl.truststore.type"] = "PEM"
            out["ssl.truststore.location"] = config["ssl.ca.location"]
        if config.get("ssl.endpoint.identification.algorithm") is not None:
            out["ssl.endpoint.identification.algorithm"] = config["ssl.endpoint.identification.algorithm"]
    return out


@contextmanager
def private_client_file(options: dict[str, str]) -> Iterator[Path]:
    """A JSON file of ``options``, readable by this user only, in a 0700 folder; deleted on exit."""
    folder = Path(tempfile.mkdtemp(prefix="kafka-client-"))  # mkdtemp: mode 0700
    path = folder / "kafka-client.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(options, handle)
        yield path
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
