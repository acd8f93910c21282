"""The single profile's on-demand YARN (a ResourceManager and one NodeManager on the single stack's HDFS, for
make bench's yarn stage, make test-yarn and make run SPARK_MASTER=yarn), without starting it: it starts only when
asked, its ports clash with nothing, a job fits, and the Makefile and the bench point at it the same way."""

from __future__ import annotations

import json
import re

import pytest

from devstack import nodes
from devstack.engine import OFF_ON_DEMAND, Stack
from tests.support.stack import ROOT
from tests.unit.test_cluster_profile import SINGLE_NODE_PORTS, _site

YARN_NODES = ["yarn-resourcemanager", "yarn-nodemanager"]


@pytest.fixture
def stack_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    monkeypatch.delenv("YARN_PORT_BASE", raising=False)
    return tmp_path


def test_yarn_is_started_only_when_named_and_stopped_with_the_rest(stack_dir):
    profile = nodes.single()
    assert [n.name for n in profile.select(None)] == ["kafka", "namenode", "datanode"]
    assert [n.name for n in profile.select(["yarn"])] == YARN_NODES
    assert [n.name for n in profile.select(None, every=True)][-2:] == YARN_NODES  # down and status cover it
    assert set(profile.whole) == {"yarn"}


def test_an_on_demand_node_that_is_off_does_not_fail_status(stack_dir, capsys):
    # no supervisord runs: everything is down; the base nodes fail status, YARN is only 'off'
    stack = Stack("single")
    assert stack.status(["yarn"]) is False  # asked for by name: down is down
    assert "down" in capsys.readouterr().out
    stack.status()
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("yarn-")}
    assert set(rows) == set(YARN_NODES) and all(OFF_ON_DEMAND in row for row in rows.values())


def test_its_ports_clash_with_neither_profile_nor_hadoops_defaults_and_move_together(stack_dir, monkeypatch):
    rm, nm = nodes.single_yarn_ports()
    ports = [*rm.values(), *nm]
    assert len(ports) == len(set(ports))
    cluster = {p for node in nodes.cluster().nodes for p in node.ports} | set(nodes.YARN_RM_PORTS.values())
    cluster |= {p for nm_ports in nodes.YARN_NODEMANAGERS.values() for p in nm_ports}
    hadoop_defaults = {8030, 8031, 8032, 8033, 8088, 8090, 8040, 8041, 8042, 8044}
    assert not set(ports) & (cluster | SINGLE_NODE_PORTS | hadoop_defaults | {9094, 18080})
    assert all(p < 32768 for p in ports), "the ephemeral range: a client's port could take one"
    Stack("single").render_configs()
    addresses = set()
    for daemon in ("resourcemanager", "nodemanager"):
        site = _site(stack_dir / "conf" / f"hadoop-{daemon}" / "yarn-site.xml")
        addresses |= {v for k, v in site.items() if k.endswith("address")}
    assert {int(a.rsplit(":", 1)[1]) for a in addresses} == set(ports)
    monkeypatch.setenv("YARN_PORT_BASE", "17000")
    moved_rm, moved_nm = nodes.single_yarn_ports()
    assert [p + 1000 for p in (*moved_rm.values(), *moved_nm)] == ports


def test_it_runs_on_the_single_stacks_hdfs_and_a_job_of_either_deploy_mode_fits(stack_dir):
    from include.config import SPARK_CONF

    stack = Stack("single")
    stack.render_configs()
    conf = stack_dir / "conf" / "hadoop-resourcemanager"
    core = _site(conf / "core-site.xml")
    assert core["fs.defaultFS"] == f"hdfs://localhost:{nodes.port('NAMENODE_RPC_PORT', 8020)}"
    nm = _site(stack_dir / "conf" / "hadoop-nodemanager" / "yarn-site.xml")
    memory = int(nm["yarn.nodemanager.resource.memory-mb"])
    assert memory == nodes.SINGLE_YARN["nm_memory_mb"]
    defaults = dict(
        line.split(None, 1)
        for line in (stack_dir / "conf" / "spark-yarn" / "spark-defaults.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert defaults["spark.executor.instances"].strip() == "1"
    assert defaults["spark.executor.cores"].strip() == "2"  # as local[*]'s 2 task threads
    assert defaults["spark.hadoop.dfs.replication"].strip() == "1"

    def container_mb(heap: str) -> int:
        return int(heap.rstrip("gm")) * (1024 if heap.endswith("g") else 1) + 384

    executor = container_mb(defaults["spark.executor.memory"].strip())
    client_am = container_mb(defaults["spark.yarn.am.memory"].strip())
    cluster_driver = container_mb(SPARK_CONF["spark.driver.memory"])
    assert client_am + executor <= memory and cluster_driver + executor <= memory
    capacity = _site(conf / "capacity-scheduler.xml")
    assert float(capacity["yarn.scheduler.capacity.maximum-am-resource-percent"]) * memory >= cluster_driver


def test_the_makefile_and_the_bench_point_spark_at_the_same_yarn(stack_dir):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^export YARN_PORT_BASE \?= {nodes.SINGLE_YARN_PORT_BASE}$", makefile, re.MULTILINE)
    assert nodes.SINGLE_YARN_OFFSETS["webapp"] == 88
    assert '"yarn_resourcemanager_webapp_address": "http://localhost:$(shell echo $$(( $(YARN_PORT_BASE) + 88 )))"' in (
        makefile
    )
    assert "export HADOOP_CONF_DIR ?= $(STACK_DIR)/conf/hadoop-resourcemanager" in makefile
    assert "export SPARK_CONF_DIR ?= $(STACK_DIR)/conf/spark-yarn" in makefile
    env = nodes.spark_on_yarn_env("cluster")
    connection = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert connection["host"] == "yarn" and connection["extra"]["deploy-mode"] == "cluster"
    assert connection["extra"]["yarn_resourcemanager_webapp_address"] == "http://localhost:18088"
    assert env["HADOOP_CONF_DIR"] == str(stack_dir / "conf" / "hadoop-resourcemanager")
    assert env["SPARK_CONF_DIR"] == str(stack_dir / "conf" / "spark-yarn")
    assert nodes.spark_on_yarn_env("client", "cluster")["HADOOP_CONF_DIR"] == str(nodes.yarn_conf_dir())
    with pytest.raises(ValueError, match="client or cluster"):
        nodes.spark_on_yarn_env("yarn")
