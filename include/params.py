"""The params both DAGs offer, defined once: the topic, the Spark trigger and the Kafka connections.

Each function returns ``{name: Param}`` entries for a DAG's ``params``; the words that differ between the
DAGs (what the topic holds, what each connection does) are the arguments. include/plans.py checks the
values again at run time (validate_params), whatever the form allowed. ``xcom`` is how an operator's
templated argument names one field of an earlier task's result (a plan, a record).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from include.config import DEFAULT_TOPIC, KAFKA_CONN_ID, TOPIC_PATTERN, TRIGGERS


def xcom(task_id: str, field: str) -> str:
    """A template for one field of ``task_id``'s returned dict (rendered as a native object by the DAGs)."""
    return "{{ ti.xcom_pull(task_ids='" + task_id + "')['" + field + "'] }}"


@contextmanager
def refused_at_once() -> Iterator[None]:
    """validate_params: params its checks refuse (a ValueError, with the reason) fail the task without the DAG's
    retry, which would only refuse them again after its delay; a service out of reach still gets the retry."""
    try:
        yield
    except ValueError as err:
        raise AirflowFailException(f"{type(err).__name__}: {err}") from err


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
        "run_seconds": Param(
            60,
            type="number",
            minimum=0,
            description="processingTime: how long the query runs; at least interval_seconds (one batch), and "
            "within the Spark task's timeout less 2 minutes for Spark to start.",
        ),
    }


def kafka_connection_params(job: str, admin: str) -> dict[str, Param]:
    """kafka_conn_id (what the Spark job connects as) and kafka_admin_conn_id (empty: the same)."""
    return {
        "kafka_conn_id": Param(
            KAFKA_CONN_ID,
            type="string",
            minLength=1,
            description=f"Kafka connection {job} One of those the deployment allows this role (docs/security.md).",
        ),
        "kafka_admin_conn_id": Param(
            None,
            type=["null", "string"],  # the UI's form sends null for an empty field
            description=f"Kafka connection {admin} Empty (null): kafka_conn_id. One of those the deployment "
            "allows this role (docs/security.md).",
        ),
    }
