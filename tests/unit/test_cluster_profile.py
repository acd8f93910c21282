"""The cluster profile's layout, without starting it: ports that never clash with the single-node profile, and the
configuration each node gets."""

from __future__ import annotations

import re

from devstack import health, nodes
from devstack.engine import Stack
from tests.support.stack import ROOT

SINGLE_NODE_PORTS = {9092, 9093, 19092, 8020, 9870, 9864, 9866, 9867, 8080, *range(4040, 4051)}


def test_every_cluster_port_is_distinct_and_free_of_the_single_node_profiles():
    ports = [p for node in nodes.cluster().nodes for p in node.ports]
    assert len(ports) == len(set(ports))
    assert not set(ports) & SINGLE_NODE_PORTS


def test_the_services_keep_their_supervisord_and_logs_under_stack_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    cluster, single = Stack("cluster"), Stack("single")
    for node in cluster.profile.nodes:
        assert node.log.is_relative_to(tmp_path / "cluster")
        assert cluster.out_log(node).is_relative_to(tmp_path / "cluster")
    assert cluster.supervisor.pidfile.is_relative_to(tmp_path / "cluster")
    assert cluster.supervisor.socket.is_relative_to(tmp_path / "cluster")
    single_files = {single.supervisor.pidfile, single.supervisor.socket, single.supervisor.conf}
    assert single_files.isdisjoint({cluster.supervisor.pidfile, cluster.supervisor.socket, cluster.supervisor.conf})


def test_three_kafka_nodes_share_one_static_quorum_and_replicate_three_times(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    Stack("cluster").render_configs()
    configs = [
        dict(
            line.split("=", 1)
            for line in (tmp_path / "cluster" / "conf" / f"kafka-{n}" / "server.properties").read_text().splitlines()
            if line and not line.startswith("#")
        )
        for n in nodes.KAFKA_NODES
    ]
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert len({c["controller.quorum.voters"] for c in configs}) == 1
    assert configs[0]["controller.quorum.voters"] == "1@localhost:29093,2@localhost:29095,3@localhost:29097"
    assert {c["default.replication.factor"] for c in configs} == {"3"}
    assert {c["min.insync.replicas"] for c in configs} == {"2"}
    assert len({c["log.dirs"] for c in configs}) == 3


def test_each_datanode_gets_its_own_ports_and_directory_and_replication_is_two(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    Stack("cluster").render_configs()

    def props(daemon: str) -> dict[str, str]:
        text = (tmp_path / "cluster" / "conf" / f"hadoop-{daemon}" / "hdfs-site.xml").read_text()
        return dict(re.findall(r"<name>([^<]+)</name><value>([^<]*)</value>", text))

    one, two = props("datanode-1"), props("datanode-2")
    for key in (
        "dfs.datanode.address",
        "dfs.datanode.http.address",
        "dfs.datanode.ipc.address",
        "dfs.datanode.data.dir",
    ):
        assert one[key] != two[key], key
    assert one["dfs.replication"] == two["dfs.replication"] == "2"


def test_an_executor_fits_its_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    stack = Stack("cluster")
    stack.render_configs()
    defaults = dict(
        line.split(None, 1)
        for line in (stack.profile.spark_conf_dir / "spark-defaults.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    worker = stack.profile.node("spark-worker-1")
    assert defaults["spark.executor.memory"].strip() == worker.args[worker.args.index("--memory") + 1]
    assert defaults["spark.executor.cores"].strip() == worker.args[worker.args.index("--cores") + 1] == "1"


def test_metadata_parsing_reads_brokers_leaders_and_isr():
    # a Metadata v1 response: 2 brokers, controller 2, one topic with one partition led by 1, ISR [1]
    def s(text: str) -> bytes:
        return len(text).to_bytes(2, "big") + text.encode()

    def i32(n: int) -> bytes:
        return n.to_bytes(4, "big", signed=True)

    body = (
        i32(43)
        + i32(2)
        + i32(1) + s("localhost") + i32(29092) + (-1).to_bytes(2, "big", signed=True)
        + i32(2) + s("localhost") + i32(29094) + (-1).to_bytes(2, "big", signed=True)
        + i32(2)
        + i32(1)
        + (0).to_bytes(2, "big") + s("t") + b"\x00"
        + i32(1)
        + (0).to_bytes(2, "big") + i32(0) + i32(1) + i32(2) + i32(1) + i32(2) + i32(1) + i32(1)
    )  # fmt: skip
    meta = health.parse_metadata(body)
    assert meta.brokers == {1: 29092, 2: 29094}
    assert meta.controller == 2
    assert meta.partitions == [health.PartitionInfo("t", 0, 1, (1, 2), (1,))]
    assert meta.under_replicated() == meta.partitions


def test_the_cds_archive_goes_through_spark_submit_opts_never_spark_defaults(tmp_path, monkeypatch):
    """SPARK_CONF_DIR sits first on the driver's classpath, and a dynamic CDS archive is refused for another classpath
    than the one it was dumped with: the archive goes through SPARK_SUBMIT_OPTS (single profile) or nowhere."""
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    for profile in ("single", "cluster"):  # the single profile's: for its on-demand YARN only
        stack = Stack(profile)
        stack.render_spark_defaults()
        assert "SharedArchiveFile" not in stack.profile.spark_defaults.dest.read_text()
    assert Stack("single").profile.spark_defaults.dest.parent == tmp_path / "conf" / "spark-yarn"
    makefile = (ROOT / "Makefile").read_text()
    assert "devstack.cds --java-option" in makefile
    assert "defaultJavaOptions" not in makefile


def test_every_node_is_a_supervisord_program_the_engine_starts_and_stops_as_a_group(tmp_path, monkeypatch):
    import configparser

    from devstack import engine

    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    monkeypatch.setattr(engine, "classpath", lambda jars, *first: f"/jars/{jars}/*")
    stack = Stack("cluster")
    stack.render_supervisor()
    conf = configparser.RawConfigParser()
    conf.read(stack.supervisor.conf)
    assert conf["unix_http_server"]["chmod"] == "0700"
    assert not [s for s in conf.sections() if s.startswith("inet_http_server")], "supervisord must not listen on TCP"
    programs = {s.removeprefix("program:"): conf[s] for s in conf.sections() if s.startswith("program:")}
    assert list(programs) == [node.name for node in stack.profile.nodes]
    for name, program in programs.items():
        assert program["autostart"] == program["autorestart"] == "false", name
        assert program["stopasgroup"] == program["killasgroup"] == "true", name
        assert int(program["stopwaitsecs"]) > 0, name
        assert stack.profile.node(name).main_class in program["command"], name


def test_the_makefile_defaults_of_the_single_profiles_ports_are_the_node_specs(monkeypatch):
    makefile = (nodes.PROJECT_ROOT / "Makefile").read_text()
    defaults = dict(re.findall(r"^export ([A-Z_]+_PORT) \?= (\d+)$", makefile, re.MULTILINE))
    assert set(defaults) == {
        "KAFKA_PORT",
        "KAFKA_SECURE_PORT",
        "KAFKA_MTLS_PORT",
        "KAFKA_CONTROLLER_PORT",
        "NAMENODE_RPC_PORT",
        "NAMENODE_HTTP_PORT",
    }
    for variable in defaults:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KAFKA_SECURE", "1")
    single = nodes.single()
    assert single.node("kafka").ports == tuple(
        int(defaults[v]) for v in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_SECURE_PORT", "KAFKA_MTLS_PORT")
    )
    assert single.node("namenode").ports == (int(defaults["NAMENODE_RPC_PORT"]), int(defaults["NAMENODE_HTTP_PORT"]))


def _site(path) -> dict[str, str]:
    return dict(re.findall(r"<name>([^<]+)</name><value>([^<]*)</value>", path.read_text()))


def test_yarn_ports_avoid_hadoops_defaults_and_the_other_stacks(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    Stack("cluster").render_configs()
    conf = tmp_path / "cluster" / "conf"
    addresses = set()
    for daemon in ("resourcemanager", "nodemanager-1", "nodemanager-2"):
        site = _site(conf / f"hadoop-{daemon}" / "yarn-site.xml")
        addresses |= {v for k, v in site.items() if k.endswith("address") and daemon != "resourcemanager"}
        addresses |= {v for k, v in site.items() if k.startswith("yarn.resourcemanager.") and k.endswith("address")}
    ports = {int(a.rsplit(":", 1)[1]) for a in addresses}
    hadoop_defaults = {8030, 8031, 8032, 8033, 8088, 8090, 8040, 8041, 8042, 8044, 8048, 8049}
    assert not ports & (hadoop_defaults | SINGLE_NODE_PORTS)
    assert all(not 38000 <= p < 40000 for p in ports), "39xxx and 38080 are another stack's"
    assert len(ports) == len(addresses)  # every address has a port of its own


def test_each_nodemanager_offers_the_memory_set_in_one_place_and_a_spark_job_fits(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    stack = Stack("cluster")
    stack.render_configs()
    conf = tmp_path / "cluster" / "conf"
    one, two = (_site(conf / f"hadoop-nodemanager-{n}" / "yarn-site.xml") for n in (1, 2))
    assert one["yarn.nodemanager.address"] != two["yarn.nodemanager.address"]
    assert one["yarn.nodemanager.local-dirs"] != two["yarn.nodemanager.local-dirs"]
    for site in (one, two):
        assert int(site["yarn.nodemanager.resource.memory-mb"]) == nodes.YARN["nm_memory_mb"]
        assert int(site["yarn.nodemanager.resource.cpu-vcores"]) == nodes.YARN["nm_vcores"]
    # a cluster-mode driver (spark.driver.memory + Spark's 384 MB overhead) fits on one NodeManager, beside an
    # executor on the other: the job runs on both nodes
    from include.config import SPARK_CONF

    driver_mb = int(SPARK_CONF["spark.driver.memory"].rstrip("g")) * 1024 + 384
    executor_mb = int(nodes.HEAPS["spark-executor"].rstrip("m")) + 384
    assert driver_mb + executor_mb <= nodes.YARN["nm_memory_mb"]
    capacity = _site(conf / "hadoop-resourcemanager" / "capacity-scheduler.xml")
    assert capacity["yarn.scheduler.capacity.root.queues"] == "default"
    assert (
        float(capacity["yarn.scheduler.capacity.maximum-am-resource-percent"]) * 2 * nodes.YARN["nm_memory_mb"]
        >= 2 * driver_mb
    ), "two cluster-mode drivers (a job and its retry) must be admitted at once"
    defaults = (stack.profile.spark_conf_dir / "spark-defaults.conf").read_text()
    assert f"spark.yarn.jars                      local:{nodes.spark_home() / 'jars'}/*" in defaults


def test_the_makefile_selects_yarn_with_the_clusters_hadoop_conf_dir():
    makefile = (nodes.PROJECT_ROOT / "Makefile").read_text()
    assert "export HADOOP_CONF_DIR ?= $(STACK_DIR)/cluster/conf/hadoop-resourcemanager" in makefile
    assert f'"yarn_resourcemanager_webapp_address": "{nodes.YARN_RM_WEBAPP_URL}"' in makefile
    assert nodes.yarn_conf_dir().name == "hadoop-resourcemanager"
