"""An Airflow secrets backend for the local stack's secure Kafka principals: ``kafka_secure_admin``,
``kafka_secure_writer``, ``kafka_secure_reader``.

Their passwords exist only in ``.stack/secrets/kafka-secure.json`` (0600, generated at the first ``make up``;
devstack/secure.py). This backend reads that file when Airflow asks for one of these connections, so that no
password is ever in the repo, the Makefile, an environment variable or a command line. Any other connection id
falls through to Airflow's next backends (``AIRFLOW_CONN_*`` variables, then the metadata database).

The Makefile configures it (``AIRFLOW__SECRETS__BACKEND=devstack.secrets_backend.LocalKafkaSecretsBackend``) as
the local stack's convenience. A deployment uses its own backend (a vault) and gives the three connections the
same shape: ``conn_type`` kafka, ``extra`` a confluent-kafka configuration as ``client_config`` builds it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from airflow.secrets import BaseSecretsBackend

from devstack import secure
from devstack.nodes import stack_dir
from devstack.secure import SCRAM_MECHANISM

log = logging.getLogger(__name__)

ADMIN_CONN_ID = "kafka_secure_admin"
WRITER_CONN_ID = "kafka_secure_writer"
READER_CONN_ID = "kafka_secure_reader"
SECURE_CONNECTIONS = {ADMIN_CONN_ID: "admin", WRITER_CONN_ID: "writer", READER_CONN_ID: "reader"}


def secure_bootstrap() -> str:
    return f"localhost:{int(os.environ.get('KAFKA_SECURE_PORT', '9093'))}"


def client_config(username: str, password: str, ca_location: str | Path, bootstrap: str) -> dict[str, str]:
    """confluent-kafka configuration of one SCRAM principal on a SASL_SSL listener."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": SCRAM_MECHANISM,
        "sasl.username": username,
        "sasl.password": password,
        "ssl.ca.location": str(ca_location),
    }


def secure_connection(conn_id: str, root: Path | None = None) -> dict | None:
    """The Airflow connection (as a dict) of one of the local secure principals, or None for other ids."""
    user = SECURE_CONNECTIONS.get(conn_id)
    if user is None:
        return None
    root = root or stack_dir()
    data = secure.load_secrets(root)
    extra = client_config(user, data["users"][user], secure.ca_pem(root), secure_bootstrap())
    return {"conn_type": "kafka", "login": user, "password": data["users"][user], "extra": extra}


class LocalKafkaSecretsBackend(BaseSecretsBackend):
    def __init__(self, **kwargs) -> None:
        super().__init__()

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        from include.kafka_security import mask_config_secrets

        if conn_id not in SECURE_CONNECTIONS:
            return None
        try:
            conn = secure_connection(conn_id)
        except secure.SecureSetupError as exc:
            log.warning("connection %s: %s", conn_id, exc)
            return None
        assert conn is not None
        mask_config_secrets(conn["extra"])
        return json.dumps(conn)
