"""A team's deployment: only dags/ plugins/ include/ jobs/ and requirements.txt, copied into a fresh AIRFLOW_HOME
with nothing of the local stack's tooling on the path (no devstack/, no Makefile environment, no secrets backend,
no SPARK_CONF_DIR), run against the local stack through Airflow connections alone, as Astro, MWAA or a Helm chart
would run it: the project folder on PYTHONPATH, its dags/ and plugins/ as Airflow's folders."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from tests.support.archive import archive_rows
from tests.support.data import PLAYERS
from tests.support.kafka import consume_all, delete_topics
from tests.support.stack import ROOT, hdfs_user

pytestmark = pytest.mark.integration

DEPLOYED = ("dags", "plugins", "include", "jobs")
AIRFLOW = str(Path(sys.executable).parent / "airflow")
# what a deployment brings from its own platform: the connections (here the local stack's), and where its copy of
# Spark's Kafka connector is (the deployment docs: SPARK_KAFKA_JARS_DIR, or --packages when unset)
FROM_THE_PLATFORM = (
    "AIRFLOW_CONN_KAFKA_DEFAULT",
    "AIRFLOW_CONN_WEBHDFS_DEFAULT",
    "AIRFLOW_CONN_SPARK_DEFAULT",
    "SPARK_KAFKA_JARS_DIR",
    "SPARK_LOCAL_IP",
    "JAVA_HOME",
)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _run(env: dict[str, str], home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=home, timeout=timeout)


def _json_list(output: str) -> list:
    """The JSON list a CLI printed last (Airflow prints warnings, themselves starting with '[', before it)."""
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(output) if char == "["):
        try:
            value, end = decoder.raw_decode(output, start)
        except ValueError:
            continue
        if isinstance(value, list) and not output[end:].strip():
            return value
    raise AssertionError(f"no JSON list at the end of:\n{output[-3000:]}")


def _dags_test(deployment: tuple[Path, dict[str, str]], dag_id: str, conf: dict) -> subprocess.CompletedProcess:
    home, env = deployment
    return _run(env, home, AIRFLOW, "dags", "test", dag_id, "--conf", json.dumps(conf))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, stack) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("deployed-airflow-home")
    for folder in DEPLOYED:
        shutil.copytree(ROOT / folder, home / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "requirements.txt", home / "requirements.txt")
    env = {
        "PATH": os.environ["PATH"],  # the venv's bin: airflow, spark-submit
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home),
        "PYTHONPATH": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        **{name: os.environ[name] for name in FROM_THE_PLATFORM if name in os.environ},
    }
    for name in FROM_THE_PLATFORM[:3]:
        assert name in env, f"{name} is not set: run the tests through 'make test'"
    migrated = _run(env, home, AIRFLOW, "db", "migrate")
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-3000:]
    return home, env


def test_the_deployment_has_no_dev_stack_on_its_path(deployment):
    home, env = deployment
    probe = "import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in %r}))"
    out = _run(env, home, sys.executable, "-c", probe % (["devstack", "bench", "tests", *DEPLOYED],))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found == {"devstack": False, "bench": False, "tests": False, **dict.fromkeys(DEPLOYED, True)}


def test_deployed_dags_parse_without_import_errors(deployment):
    home, env = deployment
    parsed = _run(env, home, AIRFLOW, "dags", "reserialize")
    assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-3000:]
    errors = _run(env, home, AIRFLOW, "dags", "list-import-errors", "-o", "json")
    assert errors.returncode == 0, errors.stderr[-3000:]
    assert _json_list(errors.stdout) == []
    listed = _run(env, home, AIRFLOW, "dags", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    dag_ids = {row["dag_id"] for row in _json_list(listed.stdout)}
    assert dag_ids == {"write_to_kafka", "read_from_kafka"}


def _third_party_imports(home: Path) -> set[str]:
    local = {p.stem for folder in DEPLOYED for p in (home / folder).rglob("*.py")} | set(DEPLOYED)
    names: set[str] = set()
    for path in (home / folder for folder in DEPLOYED):
        for source in path.rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local and n != "__future__"}


def _requirement_closure(requirements: Path) -> set[str]:
    """Every distribution that installing ``requirements`` brings: the listed ones and their dependencies."""

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0]
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    seen: set[str] = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[<>=!~\[; (]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return seen


def test_requirements_bring_every_package_the_deployed_code_imports(deployment):
    home, _ = deployment
    installed = _requirement_closure(home / "requirements.txt")
    providers = metadata.packages_distributions()
    missing = {}
    for name in sorted(_third_party_imports(home)):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(name, [])}
        if not dists & installed:
            missing[name] = sorted(dists) or "not installed"
    assert not missing, f"imported by the deployed code but not brought by requirements.txt: {missing}"


def test_write_then_read_run_in_the_deployment_through_connections_alone(deployment, hdfs, tmp_path):
    hdfs_home = f"/user/{hdfs_user()}"
    topic = f"deployed-{uuid.uuid4().hex[:10]}"
    landing, archive = f"{topic}-landing", f"{topic}-archive"
    try:
        write = _dags_test(deployment, "write_to_kafka", {"topic": topic, "hdfs_dir": landing})
        assert write.returncode == 0, (write.stdout + write.stderr)[-6000:]
        arrived = consume_all(topic)
        assert sorted((k.decode(), v.decode()) for k, v, _, _ in arrived) == sorted(PLAYERS)

        read = _dags_test(deployment, "read_from_kafka", {"topic": topic, "output_dir": archive})
        assert read.returncode == 0, (read.stdout + read.stderr)[-6000:]
        archived = archive_rows(hdfs, f"{hdfs_home}/{archive}", tmp_path / "archive")
        assert sorted((_text(r[2]), _text(r[3])) for r in archived) == sorted(PLAYERS)
    finally:
        delete_topics([topic, f"{topic}.dlq"])
        for path in (landing, archive, f"checkpoints/write_to_kafka/{topic}", f"checkpoints/read_from_kafka/{topic}"):
            hdfs.delete(f"{hdfs_home}/{path}", recursive=True)
