"""Where the pipeline's services are: read from Airflow connections at task run time, never at import.

- ``kafka_default`` (type kafka): ``extra`` is the client configuration (``bootstrap.servers`` and, on a
  secured cluster, ``security.protocol``/``sasl.*``), passed to confluent-kafka and to Spark as ``kafka.*``.
  ``kafka_secure_admin`` / ``_writer`` / ``_reader``: the local SASL_SSL principals (include/kafka/security.py).
- ``webhdfs_default`` (type webhdfs): host (comma-separated NameNodes allowed), port (9870), login (the HDFS
  user, required: no default); ``extra.hdfs_uri`` is the filesystem Spark uses (default ``hdfs://<first host>:8020``).
- ``spark_default`` (type spark): used by SparkSubmitOperator itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from include.config import KAFKA_CONN_ID, WEBHDFS_CONN_ID


@dataclass(frozen=True)
class KafkaSettings:
    config: dict[str, str]

    @property
    def bootstrap_servers(self) -> str:
        return self.config["bootstrap.servers"]


@dataclass(frozen=True)
class HdfsSettings:
    namenodes: tuple[str, ...]
    http_port: int
    user: str
    hdfs_uri: str

    @property
    def webhdfs_urls(self) -> list[str]:
        return [f"http://{host}:{self.http_port}" for host in self.namenodes]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (a trigger's arguments, a subprocess's spec); ``from_dict`` reads it back."""
        return {**asdict(self), "namenodes": list(self.namenodes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HdfsSettings:
        return cls(
            namenodes=tuple(data["namenodes"]),
            http_port=int(data["http_port"]),
            user=data["user"],
            hdfs_uri=data["hdfs_uri"],
        )


def kafka_settings(conn_id: str = KAFKA_CONN_ID) -> KafkaSettings:
    from airflow.sdk import BaseHook

    return kafka_settings_from(BaseHook.get_connection(conn_id), conn_id)


def kafka_settings_from(conn, conn_id: str) -> KafkaSettings:
    """The client config of a kafka connection; its secrets (sasl.password, ...) are masked in every log."""
    from include.kafka.security import mask_config_secrets

    config = {str(k): str(v) for k, v in (conn.extra_dejson or {}).items()}
    if "bootstrap.servers" not in config:
        raise ValueError(f"Airflow connection {conn_id!r} has no 'bootstrap.servers' in its extra")
    mask_config_secrets(config)
    return KafkaSettings(config=config)


def hdfs_settings(conn_id: str = WEBHDFS_CONN_ID) -> HdfsSettings:
    from airflow.sdk import BaseHook

    return hdfs_settings_from(BaseHook.get_connection(conn_id), conn_id)


def hdfs_settings_from(conn, conn_id: str) -> HdfsSettings:
    """Where HDFS is, and as whom: the connection's login is the HDFS user. There is no fallback user: without
    Kerberos, HDFS trusts the name the client sends, and a default such as 'hdfs' (the superuser of packaged
    Hadoop) would bypass every permission."""
    if not conn.host:
        raise ValueError(f"Airflow connection {conn_id!r} has no host (the NameNode)")
    if not (conn.login or "").strip():
        raise ValueError(
            f"Airflow connection {conn_id!r} has no login: set it to the HDFS user the pipeline acts as (its "
            "home /user/<login> holds the landing folders, archives and checkpoints); there is no default user"
        )
    hosts = tuple(h.strip() for h in conn.host.split(",") if h.strip())
    extra = conn.extra_dejson or {}
    return HdfsSettings(
        namenodes=hosts,
        http_port=int(conn.port or 9870),
        user=conn.login.strip(),
        hdfs_uri=str(extra.get("hdfs_uri") or f"hdfs://{hosts[0]}:8020").rstrip("/"),
    )


@dataclass(frozen=True)
class Connections:
    """Where the pipeline steps find Kafka and HDFS: by default the Airflow connections the plan names; given
    ``kafka`` and ``hdfs``, those settings for every connection id (a run outside Airflow: the bench's bare
    run, a trigger that resolved its connection already)."""

    kafka_fixed: KafkaSettings | None = None
    hdfs_fixed: HdfsSettings | None = None

    def kafka(self, conn_id: str) -> KafkaSettings:
        return self.kafka_fixed if self.kafka_fixed is not None else kafka_settings(conn_id)

    def hdfs(self) -> HdfsSettings:
        return self.hdfs_fixed if self.hdfs_fixed is not None else hdfs_settings()


AIRFLOW_CONNECTIONS = Connections()
