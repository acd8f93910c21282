"""The params both DAGs offer, defined once: the topic, the Spark trigger and the Kafka connections.

Each function returns ``{name: Param}`` entries for a DAG's ``params``; the words that differ between the
DAGs (what the topic holds, what each connection does) are the arguments. include/run_plan.py checks the
values again at run time (validate_params), whatever the form allowed.
"""

from __future__ import annotations

from airflow.sdk import Param

from include.run_plan import DEFAULT_TOPIC, KAFKA_CONN_ID, TRIGGERS

TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,245}$"


def topic_param(description: str) -> dict[str, Param]:
    return {"topic": Param(DEFAULT_TOPIC, type="string", pattern=TOPIC_PATTERN, description=description)}


def trigger_params(available_now: str, processing_time: str) -> dict[str, Param]:
    """trigger, interval_seconds, run_seconds; the texts say what each trigger does in this DAG."""
    return {
        "trigger": Param(
            TRIGGERS[0],
            type="string",
            enum=list(TRIGGERS),
            description=f"availableNow: {available_now} processingTime: {processing_time}",
        ),
        "interval_seconds": Param(5, type="number", exclusiveMinimum=0, description="processingTime: batch interval."),
        "run_seconds": Param(60, type="number", minimum=0, description="processingTime: how long the query runs."),
    }


def kafka_connection_params(job: str, admin: str) -> dict[str, Param]:
    """kafka_conn_id (what the Spark job connects as) and kafka_admin_conn_id (empty: the same)."""
    return {
        "kafka_conn_id": Param(KAFKA_CONN_ID, type="string", minLength=1, description=f"Kafka connection {job}"),
        "kafka_admin_conn_id": Param(
            None,
            type=["null", "string"],  # the UI's form sends null for an empty field
            description=f"Kafka connection {admin} Empty (null): kafka_conn_id.",
        ),
    }
