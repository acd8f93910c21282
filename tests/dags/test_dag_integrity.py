"""Every DAG file imports cleanly and carries what a UI user and an operator need."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_the_contract_dag_ids_exist_one_per_file(dagbag):
    assert set(dagbag.dag_ids) == {"write_to_kafka", "read_from_kafka"}
    for dag_id in dagbag.dag_ids:
        assert Path(dagbag.dags[dag_id].fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", ["write_to_kafka", "read_from_kafka"])
def test_dag_has_tags_doc_retries_and_described_params_with_defaults(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags
    assert dag.doc_md and len(dag.doc_md) > 200
    assert dag.catchup is False
    for task in dag.tasks:
        assert task.retries is not None, task.task_id
        assert task.execution_timeout is not None, task.task_id
    assert dag.params
    for name, param in dag.params.items():
        types = param.schema.get("type")
        nullable = isinstance(types, list) and "null" in types  # null is then a meaningful default
        assert param.value is not None or types == "array" or nullable, name
        assert param.description, f"{dag_id}.{name} has no description"


def test_write_dag_task_order(dagbag):
    dag = dagbag.dags["write_to_kafka"]
    order = ["create_topic", "ingest_players_csv", "record_offsets", "submit_write_job", "verify_messages"]
    for upstream, downstream in pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids


def _scheduling_assets(dag) -> dict:
    return {asset.uri: asset for _, asset in dag.timetable.asset_condition.iter_assets()}


def test_read_dag_is_scheduled_on_time_or_the_topic_asset_named_from_kafka_default(dagbag):
    import json
    import os

    servers = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]["bootstrap.servers"]
    dag = dagbag.dags["read_from_kafka"]
    assets = _scheduling_assets(dag)
    assert list(assets) == [f"kafka://{servers.split(',')[0]}/kafka-new-topic"]


def test_the_topic_asset_follows_the_deployment_connection_of_another_cluster(tmp_path):
    """The DAG parsed where kafka_default names three brokers (the cluster profile's, in another order): its
    asset is the one write_to_kafka's plans name there (kafka://<first of the sorted brokers>/<topic>)."""
    import json
    import os
    import subprocess
    import sys

    from include.plans import topic_asset_uri

    servers = "LOCALHOST:29096, localhost:29092,localhost:29094"
    code = (
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(DAGS / 'read_from_kafka.py')!r}); "
        "assert not bag.import_errors, bag.import_errors; "
        "dag = bag.dags['read_from_kafka']; "
        "print(json.dumps([[a.uri, repr(a.watchers)] for _, a in dag.timetable.asset_condition.iter_assets()]))"
    )
    env = {
        **os.environ,
        "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": servers}}),
    }
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [[uri, watchers]] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert uri == "kafka://localhost:29092/kafka-new-topic" == topic_asset_uri("localhost:29092,x:1", "kafka-new-topic")
    assert "topic_arrival.TopicArrivalTrigger" in watchers
    assert "'topics': ['kafka-new-topic']" in watchers and "'kafka_config_id': 'kafka_watcher'" in watchers


def test_a_missing_kafka_connection_fails_the_parse_naming_it():
    import os
    import subprocess
    import sys

    code = (
        "from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(DAGS / 'read_from_kafka.py')!r}); "
        "print(list(bag.import_errors.values())[0])"
    )
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_KAFKA_DEFAULT"}
    env["AIRFLOW__SECRETS__BACKEND"] = ""  # nor the local stack's backend
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert "the Kafka connection 'kafka_default' names the topic's asset" in proc.stdout, proc.stdout + proc.stderr


def test_verify_sink_updates_the_archive_alias_and_verify_messages_the_topic_alias(dagbag):
    read_outlets = dagbag.dags["read_from_kafka"].get_task("verify_sink").outlets
    write_outlets = dagbag.dags["write_to_kafka"].get_task("verify_messages").outlets
    assert [o.name for o in read_outlets] == ["kafka-topic-archives"]
    assert [o.name for o in write_outlets] == ["kafka-topic-writes"]


@pytest.mark.parametrize("dag_id", ["write_to_kafka", "read_from_kafka"])
def test_the_trigger_form_accepts_every_default(dagbag, dag_id):
    """Airflow's trigger form sends null for a field left empty: a param whose default is empty must allow null,
    and every default must validate against its own schema (or the form's Trigger button stays disabled)."""
    import jsonschema

    for name, param in dagbag.dags[dag_id].params.items():
        types = param.schema.get("type")
        if param.value in ("", None) and types != "array":
            assert isinstance(types, list) and "null" in types, f"{dag_id}.{name}: empty default but null not allowed"
        jsonschema.validate(param.value, param.schema)


def test_dag_files_parse_without_the_local_stack(tmp_path):
    """No jar globbing, no archive, no .stack path at parse time: with an empty jars folder the DAGs still
    parse, and parsing imports nothing of devstack/ (checked in a fresh interpreter, without the local stack's
    secrets backend)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "print(json.dumps({'errors': list(bag.import_errors), 'dags': sorted(bag.dag_ids),"
        " 'devstack': sorted(m for m in sys.modules if m.split('.')[0] == 'devstack')}))\n"
    )
    # the local stack's secrets backend is the Makefile's, not the DAGs': a deployment configures its own
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW__SECRETS__BACKEND", "SPARK_CONF_DIR")}
    env["SPARK_KAFKA_JARS_DIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found == {"errors": [], "dags": ["read_from_kafka", "write_to_kafka"], "devstack": []}
