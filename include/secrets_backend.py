"""An Airflow secrets backend for the local secure Kafka principals: ``kafka_secure_admin``,
``kafka_secure_writer``, ``kafka_secure_reader``.

Their passwords exist only in ``.stack/secrets/kafka-secure.json`` (0600, generated at the first ``make up``).
This backend reads that file when Airflow asks for one of these connections, so that no password is ever in
the repo, the Makefile, an environment variable or a command line. Any other connection id falls through to
Airflow's next backends (``AIRFLOW_CONN_*`` variables, then the metadata database).

Configured by the Makefile: ``AIRFLOW__SECRETS__BACKEND=include.secrets_backend.LocalKafkaSecretsBackend``.
On a real deployment, use your vault's backend instead and give the three connections the same shape
(include/stack/secure.py, ``client_config``).

| connection | principal | may |
|---|---|---|
| ``kafka_secure_admin`` | ``admin`` | everything (super user): create topics, grant ACLs, verify |
| ``kafka_secure_writer`` | ``writer`` | WRITE + DESCRIBE the topics granted to it (and their ``.dlq``) |
| ``kafka_secure_reader`` | ``reader`` | READ + DESCRIBE its topics; READ groups ``kafka-spark-airflow*`` |
"""

from __future__ import annotations

import json
import logging

from airflow.secrets import BaseSecretsBackend

log = logging.getLogger(__name__)


class LocalKafkaSecretsBackend(BaseSecretsBackend):
    def __init__(self, **kwargs) -> None:
        super().__init__()

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        from include.kafka.security import mask_config_secrets
        from include.stack.secure import SECURE_CONNECTIONS, SecureSetupError, secure_connection

        if conn_id not in SECURE_CONNECTIONS:
            return None
        try:
            conn = secure_connection(conn_id)
        except SecureSetupError as exc:
            log.warning("connection %s: %s", conn_id, exc)
            return None
        mask_config_secrets(conn["extra"])
        return json.dumps(conn)
