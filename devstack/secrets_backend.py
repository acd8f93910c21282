"""An Airflow secrets backend for the local stack's secure Kafka principals: ``kafka_secure_admin``,
``kafka_secure_writer``, ``kafka_secure_reader`` (SCRAM) and ``kafka_mtls_writer`` (a client certificate).

Their passwords exist only in ``.stack/secrets/kafka-secure.json`` (0600, generated at the first ``make up``;
devstack/secure.py). This backend reads that file when Airflow asks for one of these connections, so that no
password is ever in the repo, the Makefile, an environment variable or a command line. Any other connection id
falls through to Airflow's next backends (``AIRFLOW_CONN_*`` variables, then the metadata database).

The Makefile configures it (``AIRFLOW__SECRETS__BACKEND=devstack.secrets_backend.LocalKafkaSecretsBackend``) as
the local stack's convenience. A deployment uses its own backend (a vault) and gives the three connections the
same shape: ``conn_type`` kafka, ``extra`` a confluent-kafka configuration as ``secure.client_config`` builds it.
The connection ids and their configs live in devstack/secure.py, not here: Airflow imports this module while it
imports itself (to initialise its secrets backends), so anything else importing it first would meet that cycle.
"""

from __future__ import annotations

import json
import logging

from airflow.secrets import BaseSecretsBackend

from devstack import secure
from devstack.secure import LOCAL_CONNECTIONS, secure_connection

log = logging.getLogger(__name__)


class LocalKafkaSecretsBackend(BaseSecretsBackend):
    def __init__(self, **kwargs) -> None:
        super().__init__()

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        from include.kafka.security import mask_config_secrets

        if conn_id not in LOCAL_CONNECTIONS:
            return None
        try:
            conn = secure_connection(conn_id)
        except secure.SecureSetupError as exc:
            log.warning("connection %s: %s", conn_id, exc)
            return None
        assert conn is not None
        mask_config_secrets(conn["extra"])
        return json.dumps(conn)
