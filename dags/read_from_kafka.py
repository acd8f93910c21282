"""
### read_from_kafka: Spark reads a topic to the console and to a Parquet archive on HDFS, verified

The tutorial's `read_from_kafka.py` (key and value cast to string, printed in append mode), plus what a
console can't give: everything read is kept, exactly once, and checked.

1. **validate_params**: every param checked before anything starts.
2. **create_topic**: the topic exists afterwards (created with 1 partition if missing; idempotent).
3. **produce_messages**: the `messages` param, one Kafka message each with a null key, as the tutorial's
   console producer sent them. Skipped when the list is empty (scheduled runs only consume).
4. **record_offsets**: the topic's id and offsets just before the job, and where the query stands; an
   `output_dir` that belongs to another query is refused here; messages the query can no longer read
   (retention, topic recreated) are reported here, and fail the run with `fail_on_data_loss`.
5. **submit_read_job**: `jobs/read_from_kafka.py`: the topic to the console (a sample of each batch, see this
   task's log) and to Parquet under `output_dir/date=YYYY-MM-DD/` (key and value bytes, headers, topic,
   partition, offset, timestamp, topic_id; docs/archive.md). Each run continues
   where the last one stopped; `starting_offsets` applies only to a new checkpoint.
   It holds the query's checkpoint lease while it runs: one driver per query, even across Airflow databases
   (`make run` beside `make ui`); a second run waits for the first (docs/verification.md).
6. **verify_sink**: every message this run's job read (the offsets its checkpoint moved over) is in the
   files its batches committed exactly once, byte for byte with its headers, and nothing else is.

Connections: the Spark job reads as `kafka_conn_id`; `create_topic`, `produce_messages`, `record_offsets` and
`verify_sink` use `kafka_admin_conn_id` (default: the same). On the secure listener:
`kafka_conn_id=kafka_secure_reader`, `kafka_admin_conn_id=kafka_secure_admin`; `create_topic` also checks that
the reader may read the topic.

Runs hourly; whenever `write_to_kafka` has written the default topic; and when messages arrive in it (an
asset watcher in the triggerer: one run per burst, one more for what arrives during a run). The asset is
`kafka://<first broker of kafka_default>/kafka-new-topic`, named from the deployment's connection. Each
successful run updates the archive's asset (`hdfs://.../<output_dir>`) with what it archived: the offset ranges,
the row count, the files (docs/events.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.apache.kafka.operators.produce import ProduceToTopicOperator
from airflow.sdk import Asset, AssetAlias, AssetWatcher, Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable
from kafka_spark_submit import KafkaSparkSubmitOperator
from topic_arrival import TopicArrivalTrigger

from include.assets import TOPIC_ARCHIVES_ALIAS, deployment_topic_asset_uri
from include.config import DEFAULT_TOPIC, SPARK_CONF, SPARK_CONN_ID, SPARK_JOB_TIMEOUT, WATCHER_CONN_ID
from include.params import kafka_connection_params, refused_at_once, topic_param, trigger_params, xcom
from include.spark_app import application

# the default topic's asset, named from the deployment's connection when this file is parsed; write_to_kafka
# updates it, and the watcher does when messages arrive (plugins/topic_arrival.py)
TOPIC = Asset(
    deployment_topic_asset_uri(DEFAULT_TOPIC),
    watchers=[
        AssetWatcher(
            name=f"{DEFAULT_TOPIC}-arrivals",
            trigger=TopicArrivalTrigger(topics=[DEFAULT_TOPIC], kafka_config_id=WATCHER_CONN_ID),
        )
    ],
)
ARCHIVES = AssetAlias(TOPIC_ARCHIVES_ALIAS)


@dag(
    dag_id="read_from_kafka",
    description="Kafka topic -> Spark Structured Streaming -> console + Parquet archive on HDFS, exactly once",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"),
        assets=TOPIC,
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["kafka", "spark", "hdfs", "tutorial"],
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=15), "execution_timeout": timedelta(minutes=20)},
    params={
        **topic_param("Kafka topic to read."),
        "messages": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Messages to produce first (null key), e.g. the tutorial's three. Empty: only consume.",
        ),
        "output_dir": Param(
            None,
            type=["null", "string"],  # the UI's form sends null for an empty field
            description="HDFS directory of the Parquet archive (one topic's, bound to its query), under a root the "
            "deployment allows (default: /user/<user>); empty (null) = <topic>-archive there.",
        ),
        "starting_offsets": Param(
            "earliest",
            type="string",
            enum=["earliest", "latest"],
            description="Where a new query starts (ignored once its checkpoint exists).",
        ),
        **trigger_params("read what is there, then stop.", "run for run_seconds."),
        "fail_on_data_loss": Param(
            False,
            type="boolean",
            description="Fail when offsets the query still needed are gone (deleted topic, retention).",
        ),
        **kafka_connection_params(
            job="the Spark job reads with, e.g. kafka_secure_reader (SASL_SSL, may only read its topics).",
            admin="that creates the topic, produces `messages` and verifies, e.g. kafka_secure_admin.",
        ),
    },
)
def read_from_kafka():
    @task
    def validate_params(params=None) -> dict:
        from include.pipeline import read

        with refused_at_once():
            return read.plan(params).to_dict()

    @task(retries=0)
    def create_topic(plan: dict) -> dict:
        """The topic exists (created by the admin connection), and the job's principal may read it."""
        from include.pipeline import read

        return read.create_topics(plan).to_dict()

    @task.branch
    def check_messages(plan: dict) -> str:
        return "produce_messages" if plan["messages"] else "record_offsets"

    @task(trigger_rule="none_failed")
    def record_offsets(plan: dict) -> dict:
        from include.pipeline import read

        return read.record_offsets(plan).to_dict()

    @task(retries=0, outlets=[ARCHIVES])
    def verify_sink(plan: dict, recorded: dict) -> dict:
        """On success, the archive's asset event, with what this run archived as its extra."""
        from airflow.sdk import Asset, get_current_context

        from include.assets import archive_asset_uri
        from include.pipeline import read

        context = get_current_context()
        result = read.verify(plan, recorded, run_id=context["run_id"])
        uri = archive_asset_uri(plan["hdfs_uri"], plan["output_dir"])
        context["outlet_events"][ARCHIVES].add(Asset(uri), extra=result["event"])
        return result

    plan = validate_params()
    topic = create_topic(plan)
    branch = check_messages(plan)
    produce_messages = ProduceToTopicOperator(
        task_id="produce_messages",
        kafka_config_id=xcom("validate_params", "kafka_admin_conn_id"),
        topic=xcom("validate_params", "topic"),
        producer_function="include.kafka.messages.unkeyed",
        producer_function_args=[xcom("validate_params", "messages")],
        delivery_callback="include.kafka.messages.raise_on_error",
        synchronous=False,
        retries=0,
    )
    recorded = record_offsets(plan)
    submit_read_job = KafkaSparkSubmitOperator(
        task_id="submit_read_job",
        conn_id=SPARK_CONN_ID,
        kafka_conn_id=xcom("validate_params", "kafka_conn_id"),
        application=application("read_from_kafka"),
        application_args=xcom("record_offsets", "spark_args"),
        conf=SPARK_CONF,
        env_vars={"HADOOP_USER_NAME": xcom("validate_params", "hdfs_user")},
        name="read_from_kafka",
        execution_timeout=SPARK_JOB_TIMEOUT,
    )
    topic >> branch >> [produce_messages, recorded]
    produce_messages >> recorded
    recorded >> submit_read_job >> verify_sink(plan, recorded)


read_from_kafka()
