"""The assets the DAGs schedule on and update, and what their events carry.

- A topic's asset, ``kafka://<server>/<topic>`` (include.plans.topic_asset_uri), is updated by write_to_kafka's
  ``verify_messages`` (through the alias ``kafka-topic-writes``) and schedules read_from_kafka. The schedule's
  side is fixed when the DAG file is parsed, so ``deployment_topic_asset_uri`` builds it from the deployment's
  Kafka connection then (one connection lookup per parse, as Airflow's own ``conn`` templates do at run time):
  on any cluster the write DAG's event and the read DAG's schedule name the same asset.
- An archive's asset, ``hdfs://<namenode>/<output_dir>``, is updated by read_from_kafka's ``verify_sink``
  (through the alias ``kafka-topic-archives``). It is not the topic's asset: a read run that updated the asset
  it is scheduled on would schedule itself.

Each event's ``extra`` says what the run did (``write_event_extra`` / ``read_event_extra``): the topic, the
offset ranges per partition, the row counts, the HDFS files, the run. Offsets, counts and paths only: no
message, no connection setting, nothing secret.
"""

from __future__ import annotations

import posixpath
from typing import Any

from include.config import KAFKA_CONN_ID
from include.plans import topic_asset_uri

TOPIC_WRITES_ALIAS = "kafka-topic-writes"
TOPIC_ARCHIVES_ALIAS = "kafka-topic-archives"
# an event names at most this many files; ``files_total`` says how many there were
MAX_FILES_IN_EVENT = 100


def deployment_topic_asset_uri(topic: str, conn_id: str = KAFKA_CONN_ID) -> str:
    """The asset of ``topic`` on the cluster of the Airflow connection ``conn_id``, read when the DAG file is
    parsed. A missing connection fails the parse, naming it (a DAG scheduled on another cluster's asset would
    silently never run)."""
    from include.connections import kafka_settings

    try:
        settings = kafka_settings(conn_id)
    except Exception as exc:
        raise RuntimeError(
            f"the Kafka connection {conn_id!r} names the topic's asset, which schedules this DAG: define it "
            f"(with 'bootstrap.servers' in its extra) where the DAG processor finds it ({type(exc).__name__}: {exc})"
        ) from exc
    return topic_asset_uri(settings.bootstrap_servers, topic)


def archive_asset_uri(hdfs_uri: str, output_dir: str) -> str:
    return f"{hdfs_uri.rstrip('/')}{output_dir}"


def _files(paths: list[str]) -> dict[str, Any]:
    return {"files": sorted(paths)[:MAX_FILES_IN_EVENT], "files_total": len(paths)}


def write_event_extra(plan: dict, recorded: dict, summary: dict, run_id: str) -> dict[str, Any]:
    """write_to_kafka's event: the ranges verify_messages read ({topic: {partition: [from, to)}}), the valid
    rows and dead letters that arrived, the duplicates, the landing files the run's batches took."""
    ranges = summary.get("ranges") or {}
    return {
        "dag_id": "write_to_kafka",
        "run_id": run_id,
        "topic": plan["topic"],
        "dlq_topic": plan["dlq_topic"],
        "offsets": {
            "start": recorded["offsets"],
            "ranges": {topic: {str(p): list(r) for p, r in parts.items()} for topic, parts in ranges.items()},
        },
        "rows": {
            "valid": summary["arrived_valid"],
            "dead_lettered": summary["arrived_dead_letters"],
            "duplicates": summary["duplicates"],
        },
        "hdfs_dir": plan["hdfs_dir"],
        **_files(summary.get("files") or []),
    }


def read_event_extra(plan: dict, result: dict, files: list[str], run_id: str) -> dict[str, Any]:
    """read_from_kafka's event: the offset ranges its job archived ({partition: [from, to)}), the rows checked
    (all of them valid: a read run dead-letters nothing, and verify_sink fails on any duplicate), the archive's
    date partitions and the files its batches committed."""
    partitions = sorted({posixpath.basename(posixpath.dirname(f)) for f in files if "/date=" in f})
    return {
        "dag_id": "read_from_kafka",
        "run_id": run_id,
        "topic": plan["topic"],
        "offsets": {"ranges": {str(p): list(r) for p, r in result["ranges"].items()}},
        "rows": {"valid": result["checked"], "dead_lettered": 0, "duplicates": 0},
        "output_dir": plan["output_dir"],
        "batches": result.get("batches"),
        "archive_partitions": partitions,
        **_files(files),
    }
