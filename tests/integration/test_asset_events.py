"""#18 point 3: every successful write and read run emits its asset event with what it did; a downstream DAG
(tests/asset_dags/check_topic_events.py) reads them through inlet_events and checks them against an independent
consumer and pyarrow. All with `airflow dags test` on the real stack."""

from __future__ import annotations

import json
import re

import pytest

from include.config import DEFAULT_PLAYERS_CSV
from include.plans import checkpoint_for
from tests.support.airflow import run_dag
from tests.support.data import PLAYERS
from tests.support.events import EventMismatch, check_read_event, check_write_event
from tests.support.stack import BOOTSTRAP, ROOT, hdfs_user

pytestmark = pytest.mark.integration


def latest_event_extra(uri: str) -> dict:
    """The extra of the latest event Airflow recorded for the asset ``uri`` (its own database)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id.desc())
            .limit(1)
        )
        return session.scalar(query)


def run_id_of(run) -> str:
    return re.search(r"DagRun Finished: dag_id=[^,]+, .*?run_id=([^,]+),", run.output).group(1)


@pytest.fixture
def target(target, cleanup_hdfs):
    """tests/conftest.py's target, and an archive beside its landing dir (the folder is deleted after the test)."""
    output_dir = f"{target['hdfs_dir'].rsplit('/', 1)[0]}/archive"
    cleanup_hdfs(checkpoint_for(hdfs_user(), "read_from_kafka", target["topic"], output_dir))
    return {**target, "output_dir": output_dir}


def test_write_and_read_events_carry_what_the_runs_did_and_a_downstream_dag_checks_them(target, tmp_path):
    csv = tmp_path / "players.csv"
    csv.write_text(DEFAULT_PLAYERS_CSV.read_text().rstrip("\n") + "\nno age here\n")  # one dead letter too
    write = run_dag(
        "write_to_kafka", {"source_csv": str(csv), "topic": target["topic"], "hdfs_dir": target["hdfs_dir"]}
    )
    assert write.ok, write.tail()
    wrote = latest_event_extra(f"kafka://{BOOTSTRAP}/{target['topic']}")
    assert wrote["run_id"] == run_id_of(write) and wrote["topic"] == target["topic"]
    assert wrote["rows"] == {"valid": len(PLAYERS), "dead_lettered": 1, "duplicates": 0}
    assert wrote["offsets"]["ranges"][target["topic"]] == {"0": [0, len(PLAYERS)]}
    assert wrote["files_total"] == 1 and wrote["files"][0].endswith(".csv")

    read = run_dag("read_from_kafka", {"topic": target["topic"], "output_dir": target["output_dir"], "messages": ["x"]})
    assert read.ok, read.tail()
    archived = latest_event_extra(f"{_hdfs_uri()}{target['output_dir']}")
    assert archived["run_id"] == run_id_of(read)
    assert archived["rows"]["valid"] == len(PLAYERS) + 1
    assert archived["offsets"]["ranges"] == {"0": [0, len(PLAYERS) + 1]}
    assert archived["archive_partitions"] and archived["files_total"] >= 1
    assert "password" not in json.dumps([wrote, archived]).lower()

    check = run_dag(
        "check_topic_events",
        {"topic": target["topic"]},
        env={"AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "tests" / "asset_dags")},
    )
    assert check.ok, check.tail()
    assert check.task_states() == {"check_events": "success"}

    # the checks can fail: an event that claims one row more, or a range off by one, is caught
    with pytest.raises(EventMismatch, match="the topics hold"):
        check_write_event(wrote | {"rows": {**wrote["rows"], "valid": len(PLAYERS) + 1}})
    with pytest.raises(EventMismatch, match="or not the same ones"):
        check_read_event(archived | {"offsets": {"ranges": {"0": [1, len(PLAYERS) + 1]}}})


def _hdfs_uri() -> str:
    import os

    return json.loads(os.environ["AIRFLOW_CONN_WEBHDFS_DEFAULT"])["extra"]["hdfs_uri"]
