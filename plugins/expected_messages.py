"""A deferrable sensor that checks that exactly the expected messages are in Kafka, and the trigger it waits with.

``ExpectedMessagesSensor`` (write_to_kafka's ``verify_messages``) works on a worker in two parts around a wait:

1. ``execute`` checks the broker and HDFS (failing fast with host and port), then reads the files this run's
   batches took, streamed, into digests of the rows they must give (include.pipeline.write.expect; kept in
   the task's XCom ``expectation``: a few numbers per bucket, whatever the size), and defers.
2. ``MessagesArrivedTrigger`` only waits: it polls both topics' offsets until as many messages as expected
   can be read since the recorded offsets, or its deadline passes (``airflow dags test`` runs triggers inline
   and does not enforce the sensor's timeout: the deadline here is what ends the wait). No rows in the
   triggerer, which every deferred task and asset watcher shares.
3. ``execute_complete`` reads both topics, streamed, compares them with the expectation
   (include.pipeline.write.compare: digests, then the rows of any bucket that differs named) and judges it
   (``check``); the comparison runs even after a deadline, to name what is missing.

The comparison itself lives in include/verify/write.py; this file is only the Airflow wiring.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.config import KAFKA_CONN_ID, WEBHDFS_CONN_ID

log = logging.getLogger(__name__)

EXPECTATION_KEY = "expectation"


class MessagesArrivedTrigger(BaseTrigger):
    """Waits until every topic of ``needed`` holds at least that many messages after its ``start`` offsets
    ({topic: {partition: offset}}), or ``timeout_s`` passed. Carries the Kafka connection's id, not its config:
    a trigger's arguments are stored in the metadata database and printed in logs, and the config may hold a
    password."""

    def __init__(self, kafka_conn_id: str, start: dict, needed: dict, timeout_s: float, poll_s: float = 2.0) -> None:
        super().__init__()
        self.kafka_conn_id, self.start, self.needed = kafka_conn_id, start, needed
        self.timeout_s, self.poll_s = timeout_s, poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.MessagesArrivedTrigger",
            {
                "kafka_conn_id": self.kafka_conn_id,
                "start": self.start,
                "needed": self.needed,
                "timeout_s": self.timeout_s,
                "poll_s": self.poll_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk import BaseHook

        from include.connections import kafka_settings_from
        from include.kafka.admin import check_broker
        from include.verify.write import arrived

        try:
            conn = await BaseHook.aget_connection(self.kafka_conn_id)
            config = kafka_settings_from(conn, self.kafka_conn_id).config
            await asyncio.to_thread(check_broker, config)  # an unreachable broker named with host and port
            deadline = time.monotonic() + self.timeout_s
            while True:
                now = await asyncio.wait_for(asyncio.to_thread(arrived, config, self.start), timeout=60)
                if all(now.get(topic, 0) >= n for topic, n in self.needed.items()):
                    yield TriggerEvent({"status": "reached", "arrived": now})
                    return
                if time.monotonic() > deadline:
                    yield TriggerEvent({"status": "deadline", "arrived": now})
                    return
                await asyncio.sleep(self.poll_s)
        except Exception as exc:  # noqa: BLE001 - reported to the task, which fails with it
            yield TriggerEvent({"status": "error", "error": f"{type(exc).__name__}: {exc}"})


class ExpectedMessagesSensor(BaseSensorOperator):
    """Checks that the messages a write_to_kafka run must have produced are in its topics, no more, no less.

    :param plan: the run plan (include.plans.WritePlan as a dict), usually an XComArg
    :param recorded: offsets of both topics and the checkpoint's last batch before the job (record_offsets)
    :param fail_on_duplicates: duplicates (at-least-once re-writes) fail the task instead of being reported
    """

    template_fields = ("plan", "recorded", "fail_on_duplicates", "kafka_conn_id")

    def __init__(
        self,
        *,
        plan: Any,
        recorded: Any,
        fail_on_duplicates: Any = False,
        kafka_conn_id: str = KAFKA_CONN_ID,
        webhdfs_conn_id: str = WEBHDFS_CONN_ID,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", 300)
        kwargs.setdefault("poke_interval", 2)
        super().__init__(**kwargs)
        self.plan, self.recorded, self.fail_on_duplicates = plan, recorded, fail_on_duplicates
        self.kafka_conn_id, self.webhdfs_conn_id = kafka_conn_id, webhdfs_conn_id
        self.deferrable = deferrable

    def _connections(self):
        from include.connections import Connections, hdfs_settings, kafka_settings

        return Connections(kafka_settings(self.kafka_conn_id), hdfs_settings(self.webhdfs_conn_id))

    def execute(self, context: Any) -> Any:
        from include.hdfs import client
        from include.kafka import admin
        from include.pipeline import write
        from include.verify.write import wait_for

        connections = self._connections()
        admin.check_broker(connections.kafka_fixed.config)  # fail fast, naming host and port
        client.client(connections.hdfs())
        expectation = write.expect(self.plan, self.recorded, connections)
        needed = write.needed(self.plan, expectation)
        start = write.WriteRecord.of(self.recorded).offsets
        if not self.deferrable:
            wait_for(connections.kafka_fixed.config, start, needed, float(self.timeout), float(self.poke_interval))
            return self._compare(context, expectation, connections)
        context["ti"].xcom_push(key=EXPECTATION_KEY, value=expectation.to_dict())
        self.log.info("waiting (in the triggerer) until %s have arrived", json.dumps(needed, sort_keys=True))
        self.defer(
            trigger=MessagesArrivedTrigger(self.kafka_conn_id, start, needed, float(self.timeout)),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 120),
        )

    def execute_complete(self, context: Any, event: dict) -> dict:
        if event.get("status") == "error":
            raise RuntimeError(f"the wait for the messages failed: {event.get('error')}")
        if event.get("status") == "deadline":
            self.log.warning(
                "the deadline (%ss) passed with %s arrived: comparing what is there", self.timeout, event["arrived"]
            )
        expectation = context["ti"].xcom_pull(task_ids=self.task_id, key=EXPECTATION_KEY)
        if expectation is None:
            raise RuntimeError(f"{self.task_id}: the expectation computed before the wait is not in XCom")
        return self._compare(context, expectation, self._connections())

    def _compare(self, context: Any, expectation: Any, connections: Any) -> dict:
        from include.pipeline import write

        report = write.compare(self.plan, self.recorded, expectation, connections)
        summary = {**report.summary(), "complete": report.complete}
        counts = {k: v for k, v in summary.items() if k != "diff"}
        self.log.info("verification: %s", json.dumps(counts, sort_keys=True))
        for line in summary["diff"]:
            self.log.info("%s", line)
        write.check({**self.plan, "fail_on_duplicates": self.fail_on_duplicates}, summary)
        self._emit_topic_asset(context, summary)
        return counts

    def _emit_topic_asset(self, context: Any, summary: dict) -> None:
        """The topic's asset event, through the alias among the outlets, with what this run wrote as its extra
        (include/assets.py)."""
        from airflow.sdk import Asset

        from include.assets import write_event_extra

        extra = write_event_extra(self.plan, self.recorded, summary, context["run_id"])
        for outlet in self.outlets or []:
            if type(outlet).__name__ == "AssetAlias":
                context["outlet_events"][outlet].add(Asset(self.plan["asset_uri"]), extra=extra)
