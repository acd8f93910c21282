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

On YARN (the connection's host ``yarn``; include/yarn.py): the application id is taken from spark-submit's
output in both deploy modes, and ``on_kill`` has the ResourceManager kill the application (and waits, with a
deadline, until it has ended) before it kills spark-submit: a client-mode driver killed first would end its
application as SUCCEEDED, and a cluster-mode driver does not die with spark-submit. In cluster deploy mode the
driver runs in a YARN container: spark-submit ships the job files, the jobs zip and the connector jars, and the
Kafka client file with ``--files`` (to the application's private staging folder on HDFS, localized 0500 into the
driver's container, deleted with the application); the task follows the application through the
ResourceManager's REST API (the provider's ``yarn_track_via_rm_api``: spark-submit exits once the application is
submitted) and fails with YARN's diagnostics when it fails.

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
from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from include import yarn
from include.config import KAFKA_CONN_ID, LEASE_TTL_S, LEASE_WAIT_S, WEBHDFS_CONN_ID

# the name of the Kafka client file in a cluster-mode driver's container (spark-submit --files <path>#<name>)
SHIPPED_CLIENT_FILE = "kafka-client.json"
YARN_KILL_DEADLINE_S = 30


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
        self.yarn_application_id: str | None = None
        self._yarn_rm: str | None = None

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

        master, deploy_mode, extra = self._spark_connection()
        on_yarn = yarn.is_yarn(master)
        if on_yarn:
            self._yarn_rm = yarn.rm_url(extra)
        yarn_cluster = on_yarn and deploy_mode == "cluster"
        if yarn_cluster:
            # spark-submit exits once YARN has the application; the task follows it through the ResourceManager
            self._yarn_track_via_rm_api = True

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
                if yarn_cluster:
                    # the driver runs in a YARN container: the file travels with the application (see above)
                    base_files = self.files
                    self.files = ",".join(filter(None, [base_files, f"{path}#{SHIPPED_CLIENT_FILE}"]))
                    stack.callback(setattr, self, "files", base_files)
                    extra = [*extra, "--kafka-client-config", SHIPPED_CLIENT_FILE]
                else:
                    extra = [*extra, "--kafka-client-config", str(path)]
            self.application_args = [*base_args, *extra]
            try:
                return super().execute(context)
            except RuntimeError:
                if yarn_cluster:
                    self._log_driver_output()
                raise
            finally:
                self.application_args = base_args

    def _spark_connection(self) -> tuple[str, str | None, dict]:
        """The master, deploy mode and extra of the Spark connection, as the provider's hook resolves them."""
        conn = SparkSubmitHook(conn_id=self._conn_id, deploy_mode=self._deploy_mode)._connection
        extra: dict = {}
        if yarn.is_yarn(conn["master"]):
            try:
                extra = SparkSubmitHook.get_connection(self._conn_id).extra_dejson
            except Exception:  # noqa: BLE001 - no connection: the provider's default (yarn) has no extra
                extra = {}
        return conn["master"], conn["deploy_mode"], extra

    def _get_hook(self) -> SparkSubmitHook:
        hook = super()._get_hook()
        if hook._is_yarn:
            # the provider notes the application id in cluster deploy mode only; a client-mode task needs it too
            process = hook._process_spark_submit_log

            def noting_application_id(lines):
                def scan():
                    for line in lines:
                        if self.yarn_application_id is None and (app := yarn.application_id(line)):
                            self.yarn_application_id = app
                            self.log.info("YARN application %s (ResourceManager %s)", app, self._yarn_rm)
                        yield line

                return process(scan())

            hook._process_spark_submit_log = noting_application_id
        return hook

    def _rm_auth(self):
        """The provider's auth for the ResourceManager's REST API: SPNEGO when the connection has a principal and a
        keytab (requests-kerberos), else none."""
        return self._hook._resolved_yarn_rm_auth if self._hook is not None else None

    def _log_driver_output(self) -> None:
        """A failed cluster-mode application: YARN's diagnostics say little ("User application exited with status
        1"); the driver's own output, from its container, says why."""
        if not (self.yarn_application_id and self._yarn_rm):
            return
        try:
            tails = yarn.driver_log_tail(self._yarn_rm, self.yarn_application_id, auth=self._rm_auth())
        except (yarn.YarnError, RuntimeError) as exc:
            self.log.error("the driver's log of %s could not be fetched: %s", self.yarn_application_id, exc)
            return
        for name, text in tails.items():
            lines = yarn.error_lines(text) or text.splitlines()[-15:]
            self.log.error(
                "driver's %s (YARN application %s), its errors:\n%s", name, self.yarn_application_id, "\n".join(lines)
            )

    def _kill_yarn_application(self) -> None:
        """Have the ResourceManager kill this task's application and wait until it has ended (with a deadline)."""
        if not (self.yarn_application_id and self._yarn_rm):
            return
        try:
            state = yarn.kill(self._yarn_rm, self.yarn_application_id, YARN_KILL_DEADLINE_S, auth=self._rm_auth())
            self.log.info(
                "YARN application %s ended: %s (final status %s)",
                self.yarn_application_id,
                state.state,
                state.final_status,
            )
        except (yarn.YarnError, RuntimeError) as exc:  # RuntimeError: Kerberos without requests-kerberos
            self.log.error("could not kill YARN application %s: %s", self.yarn_application_id, exc)

    def on_kill(self) -> None:
        self._kill_yarn_application()
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
