"""
### check_topic_events (tests only): a downstream DAG that reads the pipeline's asset events

It declares the aliases `kafka-topic-writes` (write_to_kafka's `verify_messages`) and `kafka-topic-archives`
(read_from_kafka's `verify_sink`) as inlets, takes through `inlet_events` the latest event of each for the
`topic` param, and checks every figure of their extras against an independent consumer and pyarrow
(tests/support/events.py). It reads them through `inlet_events` only (it is run with `airflow dags test`);
`triggering_asset_events`, for a DAG scheduled on the alias, is not exercised here.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, Param, dag, task

WRITES = AssetAlias("kafka-topic-writes")
ARCHIVES = AssetAlias("kafka-topic-archives")


@dag(
    dag_id="check_topic_events",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["tests"],
    default_args={"retries": 0, "execution_timeout": timedelta(minutes=5)},
    params={"topic": Param("kafka-new-topic", type="string", description="The topic whose events to check.")},
)
def check_topic_events():
    @task(inlets=[WRITES, ARCHIVES])
    def check_events(params=None, inlet_events=None) -> dict:
        from tests.support.events import check_read_event, check_write_event

        def latest(alias):
            events = [e for e in inlet_events[alias] if (e.extra or {}).get("topic") == params["topic"]]
            if not events:
                raise AssertionError(f"no {alias.name} event for topic {params['topic']}")
            return events[-1].extra

        write, read = latest(WRITES), latest(ARCHIVES)
        return {
            "write": {"run_id": write["run_id"], **check_write_event(write)},
            "read": {"run_id": read["run_id"], **check_read_event(read)},
        }

    check_events()


check_topic_events()
