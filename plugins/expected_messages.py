"""A deferrable sensor that waits until exactly the expected messages are in Kafka, and its trigger.

``ExpectedMessagesSensor`` (write_to_kafka's ``verify_messages``) checks the broker and HDFS first, failing
fast with host and port when either is unreachable, then defers to ``ExpectedMessagesTrigger``, which runs
the pipeline's verify step (include.pipeline.write.verify) in a thread with its own deadline (``airflow dags
test`` runs triggers inline and does not enforce the sensor's timeout: the deadline here is what ends the
wait); back on a worker, ``check`` judges the result. The comparison itself lives in include/verify/; this
file is only the Airflow wiring.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.config import KAFKA_CONN_ID, WEBHDFS_CONN_ID

log = logging.getLogger(__name__)


def run_write_verification(kafka_config: dict, hdfs: dict, plan: dict, recorded: dict, timeout_s: float) -> dict:
    """Blocking: the verification the trigger runs in a thread. Returns a JSON-able summary."""
    from include.connections import Connections, HdfsSettings, KafkaSettings
    from include.pipeline import write

    connections = Connections(KafkaSettings(kafka_config), HdfsSettings.from_dict(hdfs))
    report = write.verify(plan, recorded, connections, timeout_s=timeout_s)
    return {**report.summary(), "complete": report.complete}


class ExpectedMessagesTrigger(BaseTrigger):
    """Carries the Kafka connection's id, not its config: a trigger's arguments are stored in the metadata
    database and printed in logs (its repr), and the config may hold a password."""

    def __init__(self, kafka_conn_id: str, hdfs: dict, plan: dict, recorded: dict, timeout_s: float) -> None:
        super().__init__()
        self.kafka_conn_id, self.hdfs, self.plan, self.recorded = kafka_conn_id, hdfs, plan, recorded
        self.timeout_s = timeout_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{__name__}.ExpectedMessagesTrigger",
            {
                "kafka_conn_id": self.kafka_conn_id,
                "hdfs": self.hdfs,
                "plan": self.plan,
                "recorded": self.recorded,
                "timeout_s": self.timeout_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk import BaseHook

        from include.connections import kafka_settings_from

        try:
            conn = await BaseHook.aget_connection(self.kafka_conn_id)
            kafka_config = kafka_settings_from(conn, self.kafka_conn_id).config
            summary = await asyncio.wait_for(
                asyncio.to_thread(
                    run_write_verification, kafka_config, self.hdfs, self.plan, self.recorded, self.timeout_s
                ),
                timeout=self.timeout_s + 60,
            )
            yield TriggerEvent({"status": "done", **summary})
        except Exception as exc:  # noqa: BLE001 - reported to the task, which fails with it
            yield TriggerEvent({"status": "error", "error": f"{type(exc).__name__}: {exc}"})


class ExpectedMessagesSensor(BaseSensorOperator):
    """Waits until the messages a write_to_kafka run must have produced are in its topics, no more, no less.

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

    def execute(self, context: Any) -> Any:
        from include.connections import hdfs_settings, kafka_settings
        from include.hdfs import client
        from include.kafka import admin

        kafka, hdfs = kafka_settings(self.kafka_conn_id), hdfs_settings(self.webhdfs_conn_id)
        admin.check_broker(kafka.config)  # fail fast, naming host and port
        client.client(hdfs)
        hdfs_dict = hdfs.to_dict()
        if not self.deferrable:
            summary = run_write_verification(kafka.config, hdfs_dict, self.plan, self.recorded, float(self.timeout))
            return self.execute_complete(context, {"status": "done", **summary})
        self.defer(
            trigger=ExpectedMessagesTrigger(
                self.kafka_conn_id, hdfs_dict, self.plan, self.recorded, float(self.timeout)
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 120),
        )

    def execute_complete(self, context: Any, event: dict) -> dict:
        from include.pipeline import write

        if event.get("status") != "done":
            raise RuntimeError(f"verification could not run: {event.get('error')}")
        counts = {k: v for k, v in event.items() if k not in ("diff", "status")}
        self.log.info("verification: %s", json.dumps(counts, sort_keys=True))
        for line in event.get("diff", []):
            self.log.info("%s", line)
        write.check({**self.plan, "fail_on_duplicates": self.fail_on_duplicates}, event)
        self._emit_topic_asset(context)
        return {k: v for k, v in event.items() if k != "diff"}

    def _emit_topic_asset(self, context: Any) -> None:
        from airflow.sdk import Asset

        for outlet in self.outlets or []:
            if type(outlet).__name__ == "AssetAlias":
                context["outlet_events"][outlet].add(Asset(self.plan["asset_uri"]))
