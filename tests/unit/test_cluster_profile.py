"""The cluster profile's layout, without starting it: ports that never clash with the single-node profile, and the
configuration each node gets."""

from __future__ import annotations

import re

from include.stack import cluster, services

SINGLE_NODE_PORTS = {9092, 9093, 19092, 8020, 9870, 9864, 9866, 9867, 8080, *range(4040, 4051)}


def test_every_cluster_port_is_distinct_and_free_of_the_single_node_profiles():
    ports = [p for svc in cluster.services() for p in svc.ports]
    assert len(ports) == len(set(ports))
    assert not set(ports) & SINGLE_NODE_PORTS


def test_the_services_keep_their_pids_and_logs_under_stack_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    for svc in cluster.services():
        assert svc.pid_file.is_relative_to(tmp_path / "cluster")
        assert svc.log.is_relative_to(tmp_path / "cluster")
    single = {svc.pid_file for svc in services.services()}
    assert single.isdisjoint(svc.pid_file for svc in cluster.services())


def test_three_kafka_nodes_share_one_static_quorum_and_replicate_three_times(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    cluster.write_configs()
    configs = [
        dict(
            line.split("=", 1)
            for line in cluster.kafka_conf(n).read_text().splitlines()
            if line and not line.startswith("#")
        )
        for n in cluster.KAFKA_NODES
    ]
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert len({c["controller.quorum.voters"] for c in configs}) == 1
    assert configs[0]["controller.quorum.voters"] == "1@localhost:29093,2@localhost:29095,3@localhost:29097"
    assert {c["default.replication.factor"] for c in configs} == {"3"}
    assert {c["min.insync.replicas"] for c in configs} == {"2"}
    assert len({c["log.dirs"] for c in configs}) == 3


def test_each_datanode_gets_its_own_ports_and_directory_and_replication_is_two(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    cluster.write_configs()

    def props(daemon: str) -> dict[str, str]:
        text = (cluster.hadoop_conf(daemon) / "hdfs-site.xml").read_text()
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
    cluster.write_configs()
    defaults = dict(
        line.split(None, 1)
        for line in (cluster.spark_conf_dir() / "spark-defaults.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    worker = next(s for s in cluster.services() if s.name == "spark-worker-1")
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
    meta = cluster.parse_metadata(body)
    assert meta.brokers == {1: 29092, 2: 29094}
    assert meta.controller == 2
    assert meta.partitions == [cluster.PartitionInfo("t", 0, 1, (1, 2), (1,))]
    assert meta.under_replicated() == meta.partitions
