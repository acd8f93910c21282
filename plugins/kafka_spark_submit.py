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

One driver per checkpoint (include/hdfs/lease.py): when the job's arguments name a ``--checkpoint``, the task
acquires the query's lease ``<checkpoint>/_lease.json`` before spark-submit (waiting up to ``lease_wait_s`` for a
run that holds it, from whatever Airflow database, then failing with its name), renews it every ``lease_ttl_s / 3``
while spark-submit runs, and releases it at the end. The job gets ``--lease``, ``--lease-owner`` and
``--lease-ttl-seconds`` and stops by itself once the lease's heartbeat is older than the ttl: a task runner killed
alone (OOM killer) leaves an orphan driver that stops before a retry can take the lease over (at twice the ttl).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psutil
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from include.config import KAFKA_CONN_ID, LEASE_TTL_S, LEASE_WAIT_S, WEBHDFS_CONN_ID


def option_value(args: list[str], name: str) -> str | None:
    """The value after ``name`` in a command line (None when absent)."""
    for i, arg in enumerate(args[:-1]):
        if arg == name:
            return args[i + 1]
    return None


class KafkaSparkSubmitOperator(SparkSubmitOperator):
    template_fields = (*SparkSubmitOperator.template_fields, "kafka_conn_id")

    def __init__(
        self,
        *,
        kafka_conn_id: str = KAFKA_CONN_ID,
        webhdfs_conn_id: str = WEBHDFS_CONN_ID,
        lease_ttl_s: float = LEASE_TTL_S,
        lease_wait_s: float = LEASE_WAIT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kafka_conn_id = kafka_conn_id
        self.webhdfs_conn_id = webhdfs_conn_id
        self.lease_ttl_s = lease_ttl_s
        self.lease_wait_s = lease_wait_s

    @contextlib.contextmanager
    def checkpoint_lease(self, context: Any) -> Iterator[list[str]]:
        """Holds the lease of the job's ``--checkpoint`` while the block runs; yields the job's lease arguments
        (none when the job names no checkpoint)."""
        checkpoint = option_value(list(self.application_args or []), "--checkpoint")
        if checkpoint is None:
            yield []
            return
        from include.connections import hdfs_settings
        from include.hdfs import client
        from include.hdfs.lease import Heartbeat, Lease, lease_path

        ti = context["ti"]
        owner = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "try_number": ti.try_number}
        hdfs = client.client(hdfs_settings(self.webhdfs_conn_id))
        lease = Lease(hdfs, urlsplit(checkpoint).path, self.lease_ttl_s, owner)
        lease.acquire(self.lease_wait_s)
        try:
            with Heartbeat(lease):
                yield [
                    *("--lease", lease_path(checkpoint), "--lease-owner", lease.token),
                    *("--lease-ttl-seconds", str(self.lease_ttl_s)),
                ]
        finally:
            lease.release()

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
        base_args = list(self.application_args or [])
        with contextlib.ExitStack() as stack:
            extra = stack.enter_context(self.checkpoint_lease(context))
            if options:
                self.log.info(
                    "Kafka as %s over %s (connection %s): security settings passed in a 0600 file, not on the "
                    "command line",
                    principal(config),
                    options["security.protocol"],
                    self.kafka_conn_id,
                )
                path = stack.enter_context(private_client_file(options))
                extra = [*extra, "--kafka-client-config", str(path)]
            self.application_args = [*base_args, *extra]
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
