"""SparkSubmitOperator for a job that talks to Kafka, whose credentials never touch a command line.

``KafkaSparkSubmitOperator(kafka_conn_id=...)`` resolves the Kafka connection when the task runs. For a secured
connection (SASL/SSL/mTLS), it writes the Java client's security settings (``sasl.jaas.config``, trust and key
stores as PEM text) to a
JSON file readable by this user only, in a fresh 0700 folder, passes the job ``--kafka-client-config <path>``,
and deletes the file when spark-submit ends, whatever the outcome. So the password is not in spark-submit's
argv (``ps``), not in ``--conf`` (Spark's UI, event log), not in ``env_vars`` (a rendered template field,
stored and shown by Airflow), and not in the task log (the connection's secrets are also registered with
Airflow's masker). A plaintext connection adds nothing.

What the job needs besides its arguments is resolved when the task runs, not when the DAG is parsed
(include/spark_app.py): ``--py-files`` is a zip of the ``jobs`` package built on this worker, and the Kafka
connector is ``--jars`` from ``$SPARK_KAFKA_JARS_DIR`` or ``--packages``, unless the DAG gives them.

When the task is killed (timeout, mark failed), the provider kills spark-submit's own process only; its
children would outlive it: the launcher JVM that ``spark-class`` runs before the driver, and the shell that
reads its output. ``on_kill`` kills the whole tree, found before the provider's kill orphans it.
"""

from __future__ import annotations

from typing import Any

import psutil
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from include.config import KAFKA_CONN_ID


class KafkaSparkSubmitOperator(SparkSubmitOperator):
    template_fields = (*SparkSubmitOperator.template_fields, "kafka_conn_id")

    def __init__(self, *, kafka_conn_id: str = KAFKA_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kafka_conn_id = kafka_conn_id

    def execute(self, context: Any) -> None:
        from include import spark_app
        from include.connections import kafka_settings
        from include.kafka.security import (
            ignored_by_spark,
            java_client_options,
            mask_config_secrets,
            principal,
            private_client_file,
        )

        if not self.py_files:
            self.py_files = str(spark_app.jobs_archive())
        if not (self.jars or self.packages):
            for option, value in spark_app.kafka_connector().items():
                setattr(self, option, value)

        config = kafka_settings(self.kafka_conn_id).config
        options = java_client_options(config)
        mask_config_secrets(options)  # a client key read from its file is a secret of its own
        if ignored := ignored_by_spark(config):
            self.log.info("connection %s: %s tune the Python clients only, not Spark", self.kafka_conn_id, ignored)
        if not options:
            return super().execute(context)
        self.log.info(
            "Kafka as %s over %s (connection %s): security settings passed in a 0600 file, not on the command line",
            principal(config),
            options["security.protocol"],
            self.kafka_conn_id,
        )
        base_args = list(self.application_args or [])
        with private_client_file(options) as path:
            self.application_args = [*base_args, "--kafka-client-config", str(path)]
            try:
                return super().execute(context)
            finally:
                self.application_args = base_args

    def on_kill(self) -> None:
        submit = getattr(self._hook, "_submit_sp", None)
        children = []
        if submit is not None and submit.poll() is None:
            try:
                children = psutil.Process(submit.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        super().on_kill()
        for child in children:
            try:
                child.kill()  # SIGKILL ends a stopped (SIGSTOP) process too
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(children, timeout=10)
