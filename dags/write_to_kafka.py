"""
### write_to_kafka: a players CSV into HDFS, then Spark streams it into Kafka, verified

The tutorial's `hadoop fs -put players.csv testdir/` and `write_to_kafka.py`, as a pipeline you can trust:

1. **validate_params**: every param checked (topic name, numbers, trigger, the source file, the HDFS
   directory) before anything starts; `source_csv`, `hdfs_dir` and the Kafka connections must be among those
   the deployment allows (`[kafka_spark_airflow]` in Airflow's configuration, docs/security.md).
2. **create_topic**: `topic` and its dead-letter topic `<topic>.dlq` exist afterwards (idempotent; an
   existing topic with another partition count or replication factor is an error). The replication factor
   defaults to the cluster's own `default.replication.factor`, and the topic's `min.insync.replicas` must
   let a write with `acks=all` be acknowledged.
3. **ingest_players_csv**: `source_csv` (a local file) is uploaded through WebHDFS into `hdfs_dir` under a
   name derived from its content, atomically (hidden temporary name, then rename). The same file again is
   a no-op; a changed file is a new file.
4. **record_offsets**: the end offsets of both topics and the query's last checkpointed batch (after a job
   killed in a batch no run has committed since: the offsets recorded before that job, so that the copies
   its attempts wrote are counted), and the landing file this run ingested.
5. **submit_write_job**: `jobs/write_to_kafka.py` on Spark: every new file in `hdfs_dir` -> valid rows to
   `topic` (key = name, value = age), bad rows to `<topic>.dlq` as JSON with file, line, raw line and reason.
   It holds the query's checkpoint lease while it runs: one driver per query, even across Airflow databases
   (`make run` beside `make ui`); a second run waits for the first (docs/verification.md).
6. **verify_messages**: an independent consumer (connection `kafka_admin_conn_id`) reads both topics from the
   recorded offsets and checks that exactly the rows of the files this run consumed arrived (streamed, in
   bounded memory, on a worker; the triggerer only waits for the offsets) (duplicates are
   reported; they fail the run only with `fail_on_duplicates`), and that the query took the ingested file (in
   this run, or in an earlier one, which it names). On success the topic's asset is updated, which
   schedules `read_from_kafka`.

Connections: the Spark job writes as `kafka_conn_id`; `create_topic`, `record_offsets` and `verify_messages`
use `kafka_admin_conn_id` (default: the same). On the secure listener: `kafka_conn_id=kafka_secure_writer`,
`kafka_admin_conn_id=kafka_secure_admin`; `create_topic` also checks that the writer may write both topics.

Rules for rows, and what each failure looks like: docs/params-and-rows.md in the project.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, Param, dag, task
from expected_messages import ExpectedMessagesSensor
from kafka_spark_submit import KafkaSparkSubmitOperator

from include.assets import TOPIC_WRITES_ALIAS
from include.config import DEFAULT_PLAYERS_CSV, SPARK_CONF, SPARK_CONN_ID, SPARK_JOB_TIMEOUT
from include.params import kafka_connection_params, refused_at_once, topic_param, trigger_params, xcom
from include.spark_app import application

TOPIC_WRITES = AssetAlias(TOPIC_WRITES_ALIAS)


@dag(
    dag_id="write_to_kafka",
    description="players CSV -> HDFS -> Spark Structured Streaming -> Kafka, every message verified",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kafka", "spark", "hdfs", "tutorial"],
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=15), "execution_timeout": timedelta(minutes=20)},
    params={
        "source_csv": Param(
            str(DEFAULT_PLAYERS_CSV),
            type="string",
            minLength=1,
            description="Absolute local path of the CSV to ingest (name;age per line, UTF-8), inside a folder the "
            "deployment allows: include/data/ or $AIRFLOW_HOME/landing/ by default (docs/params-and-rows.md).",
        ),
        **topic_param("Kafka topic for the valid rows; bad rows go to <topic>.dlq."),
        "hdfs_dir": Param(
            "testdir",
            type="string",
            minLength=1,
            description="HDFS landing directory the Spark query watches; relative paths are under /user/<user>. "
            "It must be below an HDFS root the deployment allows (default: /user/<user>); no '..'.",
        ),
        "partitions": Param(1, type="integer", minimum=1, description="Partitions of the topic (and its .dlq)."),
        "replication_factor": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Replication factor of both topics; empty (null) = the cluster's default.replication.factor "
            "(1 on the single-node stack, 3 on the cluster profile). An existing topic must have it.",
        ),
        **trigger_params(
            "process what is there, then stop.",
            "run for run_seconds, picking up files that land meanwhile, then stop between batches.",
        ),
        "fail_on_duplicates": Param(
            False, type="boolean", description="Fail verification when a message arrived more than once."
        ),
        **kafka_connection_params(
            job="the Spark job writes with, e.g. kafka_secure_writer (SASL_SSL, may only write its topics).",
            admin="that creates the topics and verifies (reads) them, e.g. kafka_secure_admin.",
        ),
    },
)
def write_to_kafka():
    @task
    def validate_params(params=None) -> dict:
        from include.pipeline import write

        with refused_at_once():
            return write.plan(params).to_dict()

    @task(retries=0)
    def create_topic(plan: dict) -> dict:
        """Both topics exist (created by the admin connection), and the job's principal may write them."""
        from include.pipeline import write

        return write.create_topics(plan).to_dict()

    @task(retries=0)
    def ingest_players_csv(plan: dict) -> dict:
        from include.pipeline import write

        return write.ingest(plan).to_dict()

    @task
    def record_offsets(plan: dict, ingested: dict) -> dict:
        from include.pipeline import write

        return write.record_offsets(plan, ingested=ingested).to_dict()

    plan = validate_params()
    topics = create_topic(plan)
    ingested = ingest_players_csv(plan)
    recorded = record_offsets(plan, ingested)

    submit_write_job = KafkaSparkSubmitOperator(
        task_id="submit_write_job",
        conn_id=SPARK_CONN_ID,
        kafka_conn_id=xcom("validate_params", "kafka_conn_id"),
        application=application("write_to_kafka"),
        application_args=xcom("validate_params", "spark_args"),
        conf=SPARK_CONF,
        env_vars={"HADOOP_USER_NAME": xcom("validate_params", "hdfs_user")},
        name="write_to_kafka",
        execution_timeout=SPARK_JOB_TIMEOUT,
    )

    verify_messages = ExpectedMessagesSensor(
        task_id="verify_messages",
        plan=plan,
        recorded=recorded,
        fail_on_duplicates="{{ params.fail_on_duplicates }}",
        kafka_conn_id=xcom("validate_params", "kafka_admin_conn_id"),
        timeout=300,
        # the check is idempotent (same recorded offsets, same files); one retry also covers a scheduler race
        # that can fail a sensor resuming from the triggerer (seen with Airflow 3.3.2 under `make ui`)
        retries=1,
        outlets=[TOPIC_WRITES],
    )

    topics >> ingested >> recorded >> submit_write_job >> verify_messages


write_to_kafka()
