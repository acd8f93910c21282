"""Health probes of the local services, one copy each: Kafka (its own protocol), HDFS (WebHDFS and JMX), Spark
standalone (the master's JSON). Every probe either answers or raises (refused, timeout, bad answer); the engine
turns that into a wait with a deadline.

Standard library only, so that `make up` and `make status` need nothing else.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from dataclasses import dataclass


def http_json(url: str, timeout: float = 3.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - localhost only
        return json.loads(resp.read().decode())


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


# ---------------------------------------------------------------------------------------------- kafka


@dataclass(frozen=True)
class PartitionInfo:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class KafkaMetadata:
    brokers: dict[int, int]  # node id -> port
    controller: int
    partitions: list[PartitionInfo]

    def under_replicated(self) -> list[PartitionInfo]:
        return [p for p in self.partitions if len(p.isr) < len(p.replicas)]


CORRELATION_ID = 43


def kafka_metadata(port: int, host: str = "localhost", timeout: float = 3.0) -> KafkaMetadata:
    """Metadata v1 for all topics from one broker: brokers, controller, each partition's leader and ISR.

    Plain Kafka protocol, so that `make up` needs no Kafka client library.
    """
    client = b"devstack-health"
    body = (
        (3).to_bytes(2, "big")  # api key: Metadata
        + (1).to_bytes(2, "big")  # api version 1
        + CORRELATION_ID.to_bytes(4, "big", signed=True)
        + len(client).to_bytes(2, "big")
        + client
        + (-1).to_bytes(4, "big", signed=True)  # null array: all topics
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(len(body).to_bytes(4, "big") + body)
        size = int.from_bytes(recv_exact(sock, 4), "big")
        return parse_metadata(recv_exact(sock, size))


def parse_metadata(buf: bytes) -> KafkaMetadata:
    """A Metadata v1 response (after its size): brokers, controller, and each partition's leader, replicas, ISR."""
    pos = 0

    def take(n: int, signed: bool = True) -> int:
        nonlocal pos
        value = int.from_bytes(buf[pos : pos + n], "big", signed=signed)
        pos += n
        return value

    def string() -> str | None:
        nonlocal pos
        length = take(2)
        if length < 0:
            return None
        value = buf[pos : pos + length].decode()
        pos += length
        return value

    if take(4) != CORRELATION_ID:
        raise ConnectionError("unexpected correlation id in a metadata response")
    brokers = {}
    for _ in range(take(4)):
        node, _host, bport = take(4), string(), take(4)
        string()  # rack
        brokers[node] = bport
    controller = take(4)
    partitions = []
    for _ in range(take(4)):
        take(2)  # topic error code
        topic = string() or ""
        take(1)  # is_internal
        for _ in range(take(4)):
            take(2)  # partition error code
            index, leader = take(4), take(4)
            replicas = tuple(take(4) for _ in range(take(4)))
            isr = tuple(take(4) for _ in range(take(4)))
            partitions.append(PartitionInfo(topic, index, leader, replicas, isr))
    return KafkaMetadata(brokers, controller, partitions)


def kafka_answers(port: int) -> bool:
    """The broker on localhost:<port> answers a metadata request and knows at least one broker."""
    return len(kafka_metadata(port, timeout=2.0).brokers) >= 1


def kafka_cluster_healthy(nodes: dict[int, int]) -> bool:
    """``nodes`` (node id -> broker port) all answer, each sees all of them, and no partition is under-replicated."""
    for port in nodes.values():
        meta = kafka_metadata(port)
        if sorted(meta.brokers) != sorted(nodes) or meta.under_replicated():
            return False
    return True


# ----------------------------------------------------------------------------------------------- hdfs


def namenode_info(http_port: int) -> dict:
    beans = http_json(f"http://localhost:{http_port}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo")["beans"]
    return beans[0] if beans else {}


def live_datanodes(http_port: int) -> list[str]:
    """The DataNodes the NameNode counts as live, as 'localhost:<data transfer port>'."""
    return sorted(json.loads(namenode_info(http_port).get("LiveNodes") or "{}"))


def webhdfs_ok(http_port: int, user: str) -> bool:
    return "FileStatuses" in http_json(f"http://localhost:{http_port}/webhdfs/v1/?op=LISTSTATUS&user.name={user}")


def datanode_registered(namenode_http: int, datanode_http: int, datanode_port: int) -> bool:
    """The DataNode itself says it is registered and heartbeating, and the NameNode lists it as live.

    (The NameNode alone is not enough: after a kill -9 it lists the dead DataNode as live for minutes.)
    """
    url = f"http://localhost:{datanode_http}/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo"
    beans = http_json(url)["beans"]
    actors = json.loads(beans[0].get("BPServiceActorInfo") or "[]") if beans else []
    if not any(a.get("ActorState") == "RUNNING" and a.get("LastHeartbeat") not in (None, "") for a in actors):
        return False
    return any(key.endswith(f":{datanode_port}") for key in live_datanodes(namenode_http))


def hdfs_healthy(namenode_http: int, datanodes: int) -> bool:
    """``datanodes`` live DataNodes and safe mode off: HDFS takes writes."""
    info = namenode_info(namenode_http)
    return len(json.loads(info.get("LiveNodes") or "{}")) == datanodes and info.get("Safemode", "x") == ""


# ---------------------------------------------------------------------------------------------- spark


def spark_master_state(ui_port: int) -> dict:
    """The master's own JSON (status, workers with their state, running and completed applications)."""
    return http_json(f"http://localhost:{ui_port}/json/")


def spark_master_alive(ui_port: int) -> bool:
    return spark_master_state(ui_port).get("status") == "ALIVE"


def spark_workers_alive(ui_port: int, worker_ports: list[int]) -> bool:
    """The master is ALIVE and every worker of ``worker_ports`` is registered ALIVE with it."""
    state = spark_master_state(ui_port)
    alive = {w.get("port") for w in state.get("workers", []) if w.get("state") == "ALIVE"}
    return state.get("status") == "ALIVE" and set(worker_ports) <= alive


# ----------------------------------------------------------------------------------------------- yarn


def yarn_rm_started(webapp_port: int) -> bool:
    """The ResourceManager's REST API answers and says it is STARTED (and active)."""
    info = http_json(f"http://localhost:{webapp_port}/ws/v1/cluster/info")["clusterInfo"]
    return info.get("state") == "STARTED" and info.get("haState") in (None, "ACTIVE")


YARN_NODE_STATES = "NEW,RUNNING,UNHEALTHY,DECOMMISSIONING,DECOMMISSIONED,LOST,REBOOTED,SHUTDOWN"


def yarn_nodes(webapp_port: int) -> dict[str, str]:
    """{node id ('localhost:<NodeManager port>'): state} of every NodeManager the ResourceManager knows, LOST ones
    included (without ``states`` its REST API lists the active ones only); a node that re-registered counts as
    RUNNING."""
    url = f"http://localhost:{webapp_port}/ws/v1/cluster/nodes?states={YARN_NODE_STATES}"
    states: dict[str, str] = {}
    for node in (http_json(url).get("nodes") or {}).get("node") or []:
        if states.get(node["id"]) != "RUNNING":
            states[node["id"]] = node["state"]
    return states


def yarn_nodes_running(webapp_port: int, nm_ports: list[int]) -> bool:
    """The ResourceManager lists every NodeManager of ``nm_ports`` RUNNING."""
    states = yarn_nodes(webapp_port)
    return all(states.get(f"localhost:{p}") == "RUNNING" for p in nm_ports)
