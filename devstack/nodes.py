"""The cluster profile (``make up PROFILE=cluster``): real multi-node engines on localhost, next to the single-node
stack and on other ports, so that both can run at once.

- Kafka: 3 KRaft nodes (combined broker + controller, a static quorum of the three controllers),
  ``default.replication.factor=3``, ``min.insync.replicas=2``.
- HDFS: 1 NameNode + 2 DataNodes, replication 2.
- Spark standalone: 1 master + 2 workers (1 core each), from the pyspark wheel's jars.

The services are the single-node stack's own ``Service`` objects (PID files, health checks with deadlines,
graceful stop then SIGKILL, port-owner errors), with their own ports and their own folder:
``.stack/cluster/`` (``conf/``, ``data/``, ``logs/``, ``run/``). The jars are the single-node stack's
(``.stack/jars/``). Memory: every heap is in ``HEAPS`` below, and nowhere else.

Standard library only, as services.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from include.stack import services as single
from include.stack.services import (
    CONF_SRC,
    JAVA17_OPENS,
    Service,
    StackError,
    _classpath,
    _http_json,
    _recv_exact,
    format_kafka_storage,
    jars_ready,
    java_bin,
    new_kafka_cluster_id,
    resolve_jars,
    stack_dir,
    tail,
)

PROFILE = "cluster"

# ---- ports: none of them is used by the single-node profile (9092/19092, 8020/9870, 9864/9866/9867, 8080) ----
KAFKA_NODES = {1: (29092, 29093), 2: (29094, 29095), 3: (29096, 29097)}  # node id: (broker, controller)
NAMENODE_RPC_PORT = 28020
NAMENODE_HTTP_PORT = 29870
DATANODES = {1: (29866, 29864, 29867), 2: (29966, 29964, 29967)}  # n: (data transfer, http, ipc)
SPARK_MASTER_PORT = 7077
SPARK_MASTER_UI_PORT = 8180  # 8080 is Airflow's
SPARK_WORKERS = {1: (7078, 8181), 2: (7079, 8182)}  # n: (rpc, web UI)
SPARK_WORKER_CORES = 1

# ---- memory: the one place. Sized for 2 cores and 24 GiB shared with other work (about 4.7 GB of heaps). ----
HEAPS = {
    "kafka": "384m",  # each of the 3 nodes (broker + controller)
    "namenode": "384m",
    "datanode": "256m",  # each of the 2
    "spark-master": "256m",
    "spark-worker": "192m",  # each worker daemon; its executors are separate JVMs
    "spark-executor": "512m",  # = each worker's --memory: one executor per worker (spark-defaults.conf)
    # the Spark driver (spark-submit, client mode) keeps run_plan.SPARK_CONF's spark.driver.memory = 1g
}

BOOTSTRAP_SERVERS = ",".join(f"localhost:{broker}" for broker, _ in KAFKA_NODES.values())
HDFS_URI = f"hdfs://localhost:{NAMENODE_RPC_PORT}"
WEBHDFS_URL = f"http://localhost:{NAMENODE_HTTP_PORT}"
SPARK_MASTER_URL = f"spark://localhost:{SPARK_MASTER_PORT}"

CLUSTER_DEADLINE_S = 120


def cluster_dir() -> Path:
    return stack_dir() / "cluster"


def conf_dir() -> Path:
    return cluster_dir() / "conf"


def data_dir() -> Path:
    return cluster_dir() / "data"


def logs_dir() -> Path:
    return cluster_dir() / "logs"


def spark_conf_dir() -> Path:
    """What the Makefile exports as SPARK_CONF_DIR for PROFILE=cluster (spark-submit's spark-defaults.conf)."""
    return conf_dir() / "spark"


def spark_home(strict: bool = False) -> Path:
    """The pyspark wheel's folder: Spark's jars/ and bin/ (it has no start-master/start-worker scripts).

    From this Python, or else the project's .venv (so that `down` and `status` work from any Python)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    found = sorted(single.PROJECT_ROOT.glob(".venv/lib/python3*/site-packages/pyspark"))
    if strict and not found:
        raise StackError("pyspark is not installed - run 'make setup' (it installs it into .venv)")
    return found[0] if found else single.PROJECT_ROOT / ".venv" / "pyspark-not-installed"


# --------------------------------------------------------------------------------------------- config


def _render(template: str, dest: Path, **values: object) -> None:
    single._render(f"cluster/{template}", dest, **values)


def kafka_conf(node: int) -> Path:
    return conf_dir() / f"kafka-{node}" / "server.properties"


def hadoop_conf(daemon: str) -> Path:
    return conf_dir() / f"hadoop-{daemon}"


def write_configs() -> None:
    voters = ",".join(f"{n}@localhost:{ctrl}" for n, (_, ctrl) in KAFKA_NODES.items())
    for node, (broker, controller) in KAFKA_NODES.items():
        _render(
            "kafka-server.properties",
            kafka_conf(node),
            node_id=node,
            voters=voters,
            kafka_port=broker,
            controller_port=controller,
            data_dir=data_dir() / f"kafka-{node}",
        )
    daemons = {"namenode": (0, 0, 0), **{f"datanode-{n}": ports for n, ports in DATANODES.items()}}
    for daemon, (dn_port, dn_http, dn_ipc) in daemons.items():
        values = dict(
            namenode_rpc_port=NAMENODE_RPC_PORT,
            namenode_http_port=NAMENODE_HTTP_PORT,
            datanode_port=dn_port,
            datanode_http_port=dn_http,
            datanode_ipc_port=dn_ipc,
            data_dir=data_dir() / "hdfs",
            datanode_dir=data_dir() / "hdfs" / daemon,
        )
        _render("core-site.xml", hadoop_conf(daemon) / "core-site.xml", **values)
        _render("hdfs-site.xml", hadoop_conf(daemon) / "hdfs-site.xml", **values)
        shutil.copy(CONF_SRC / "hadoop-log4j.properties", hadoop_conf(daemon) / "log4j.properties")
    _render("spark-defaults.conf", spark_conf_dir() / "spark-defaults.conf", executor_memory=HEAPS["spark-executor"])


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


def kafka_metadata(port: int, timeout: float = 3.0) -> KafkaMetadata:
    """Metadata v1 for all topics from the broker on localhost:<port> (brokers, controller, leaders, ISR).

    Plain Kafka protocol, as services.kafka_answers, so that `make up` needs nothing but the standard library.
    """
    client = b"stack-cluster"
    body = (
        (3).to_bytes(2, "big")
        + (1).to_bytes(2, "big")
        + (43).to_bytes(4, "big", signed=True)
        + len(client).to_bytes(2, "big")
        + client
        + (-1).to_bytes(4, "big", signed=True)  # null array: all topics
    )
    with socket.create_connection(("localhost", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(len(body).to_bytes(4, "big") + body)
        size = int.from_bytes(_recv_exact(sock, 4), "big")
        return parse_metadata(_recv_exact(sock, size))


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

    if take(4) != 43:
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


def kafka_cluster_healthy() -> bool:
    """Every node answers, each sees all three brokers, and no partition is under-replicated."""
    for broker, _ in KAFKA_NODES.values():
        meta = kafka_metadata(broker)
        if sorted(meta.brokers) != sorted(KAFKA_NODES) or meta.under_replicated():
            return False
    return True


def _cluster_id() -> str:
    """One cluster id for the three nodes, kept next to their data so that a node re-formatted later joins."""
    path = data_dir() / "kafka-cluster-id"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    cluster_id = new_kafka_cluster_id()
    path.write_text(cluster_id + "\n")
    return cluster_id


def _format_kafka(node: int) -> None:
    write_configs()
    data = data_dir() / f"kafka-{node}"
    if not (data / "meta.properties").is_file():
        format_kafka_storage(f"kafka-{node}", kafka_conf(node), data, _cluster_id())


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ----------------------------------------------------------------------------------------------- hdfs


def _namenode_info() -> dict:
    url = f"{WEBHDFS_URL}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
    beans = _http_json(url)["beans"]
    return beans[0] if beans else {}


def webhdfs_ok() -> bool:
    return "FileStatuses" in _http_json(f"{WEBHDFS_URL}/webhdfs/v1/?op=LISTSTATUS&user.name={single.hdfs_user()}")


def live_datanodes() -> list[str]:
    """The DataNodes the NameNode counts as live, as 'localhost:<data transfer port>'."""
    return sorted(json.loads(_namenode_info().get("LiveNodes") or "{}"))


def _datanode_registered(n: int) -> bool:
    port, http, _ = DATANODES[n]
    beans = _http_json(f"http://localhost:{http}/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo")["beans"]
    actors = json.loads(beans[0].get("BPServiceActorInfo") or "[]") if beans else []
    if not any(a.get("ActorState") == "RUNNING" and a.get("LastHeartbeat") not in (None, "") for a in actors):
        return False
    return any(key.endswith(f":{port}") for key in live_datanodes())


def hdfs_cluster_healthy() -> bool:
    info = _namenode_info()
    live = json.loads(info.get("LiveNodes") or "{}")
    return len(live) == len(DATANODES) and info.get("Safemode", "x") == ""


def _format_namenode() -> None:
    write_configs()
    name_dir = data_dir() / "hdfs" / "name"
    if (name_dir / "current" / "VERSION").is_file():
        return
    logs_dir().mkdir(parents=True, exist_ok=True)
    log = logs_dir() / "namenode-format.log"
    cmd = [
        java_bin(),
        *JAVA17_OPENS,
        f"-Dhadoop.log.file={log}",
        "-cp",
        _classpath("hdfs", hadoop_conf("namenode")),
        "org.apache.hadoop.hdfs.server.namenode.NameNode",
        "-format",
        "-nonInteractive",
    ]
    if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
        raise StackError(f"formatting the NameNode in {name_dir} failed; see {log}:\n{tail(log)}")
    print(f"namenode: formatted storage in {name_dir}")


# ---------------------------------------------------------------------------------------------- spark


def spark_master_state() -> dict:
    """The master's own JSON (status, workers with their state, running and completed applications)."""
    return _http_json(f"http://localhost:{SPARK_MASTER_UI_PORT}/json/")


def _spark_master_alive() -> bool:
    return spark_master_state().get("status") == "ALIVE"


def _spark_worker_registered(n: int) -> bool:
    port, _ = SPARK_WORKERS[n]
    workers = spark_master_state().get("workers", [])
    return any(w.get("port") == port and w.get("state") == "ALIVE" for w in workers)


def spark_cluster_healthy() -> bool:
    state = spark_master_state()
    alive = {w.get("port") for w in state.get("workers", []) if w.get("state") == "ALIVE"}
    return state.get("status") == "ALIVE" and {p for p, _ in SPARK_WORKERS.values()} <= alive


def _spark_classpath() -> str:
    return os.pathsep.join([str(spark_home() / "conf"), str(spark_home() / "jars" / "*")])


def _spark_env() -> dict[str, str]:
    return {
        # the worker starts executors with SPARK_HOME/bin's launcher and jars
        "SPARK_HOME": str(spark_home()),
        # a wheel is not a Spark distribution: without this, the launcher looks for build directories
        "SPARK_SCALA_VERSION": "2.13",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(logs_dir()),
    }


# ------------------------------------------------------------------------------------------- services


def services() -> list[Service]:
    """The cluster, in start order."""
    root = cluster_dir()
    out: list[Service] = []
    for node, (broker, controller) in KAFKA_NODES.items():
        out.append(
            Service(
                name=f"kafka-{node}",
                main_class="kafka.Kafka",
                profile="kafka",
                ports=[broker, controller],
                log_name=f"kafka-{node}/kafka.log",
                # a node can't answer metadata before a majority of the quorum is up: its controller port
                # is enough here, and up() then waits for the whole cluster
                ready=lambda controller=controller: _port_open(controller),
                ready_what=f"controller listening on localhost:{controller}",
                prepare=lambda node=node: _format_kafka(node),
                heap=HEAPS["kafka"],
                sysprops={
                    "kafka.logs.dir": str(logs_dir() / f"kafka-{node}"),
                    "log4j2.configurationFile": str(CONF_SRC / "kafka-log4j2.properties"),
                },
                args=[str(kafka_conf(node))],
                home=root,
            )
        )

    def hadoop_props(daemon: str) -> dict[str, str]:
        return {"hadoop.log.file": str(logs_dir() / f"{daemon}.log"), "hadoop.home.dir": str(root)}

    out.append(
        Service(
            name="namenode",
            main_class="org.apache.hadoop.hdfs.server.namenode.NameNode",
            profile="hdfs",
            ports=[NAMENODE_RPC_PORT, NAMENODE_HTTP_PORT],
            log_name="namenode.log",
            ready=webhdfs_ok,
            ready_what=f"WebHDFS LISTSTATUS / answers on localhost:{NAMENODE_HTTP_PORT}",
            prepare=_format_namenode,
            heap=HEAPS["namenode"],
            sysprops=hadoop_props("namenode"),
            extra_cp=[hadoop_conf("namenode")],
            home=root,
        )
    )
    for n, ports in DATANODES.items():
        out.append(
            Service(
                name=f"datanode-{n}",
                main_class="org.apache.hadoop.hdfs.server.datanode.DataNode",
                profile="hdfs",
                ports=list(ports),
                log_name=f"datanode-{n}.log",
                ready=lambda n=n: _datanode_registered(n),
                ready_what="registered with the NameNode and heartbeating",
                prepare=write_configs,
                heap=HEAPS["datanode"],
                sysprops=hadoop_props(f"datanode-{n}"),
                extra_cp=[hadoop_conf(f"datanode-{n}")],
                home=root,
            )
        )
    spark_props = {"spark.master.rest.enabled": "false", "spark.ui.reverseProxy": "false"}
    out.append(
        Service(
            name="spark-master",
            main_class="org.apache.spark.deploy.master.Master",
            profile="spark",
            ports=[SPARK_MASTER_PORT, SPARK_MASTER_UI_PORT],
            log_name="spark-master.out",
            ready=_spark_master_alive,
            ready_what=f"{SPARK_MASTER_URL} ALIVE, UI http://localhost:{SPARK_MASTER_UI_PORT}",
            prepare=write_configs,
            heap=HEAPS["spark-master"],
            sysprops=spark_props,
            args=["--host", "localhost", "--port", str(SPARK_MASTER_PORT), "--webui-port", str(SPARK_MASTER_UI_PORT)],
            home=root,
            classpath=_spark_classpath(),
            env=_spark_env(),
        )
    )
    for n, (port, ui) in SPARK_WORKERS.items():
        out.append(
            Service(
                name=f"spark-worker-{n}",
                main_class="org.apache.spark.deploy.worker.Worker",
                profile="spark",
                ports=[port, ui],
                log_name=f"spark-worker-{n}.out",
                ready=lambda n=n: _spark_worker_registered(n),
                ready_what=f"registered ALIVE with the master, UI http://localhost:{ui}",
                prepare=write_configs,
                heap=HEAPS["spark-worker"],
                sysprops={
                    **spark_props,
                    # applications' folders (jars, logs) are removed a day after they end
                    "spark.worker.cleanup.enabled": "true",
                    "spark.worker.cleanup.interval": "3600",
                    "spark.worker.cleanup.appDataTtl": "86400",
                },
                args=[
                    "--host",
                    "localhost",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui),
                    "--cores",
                    str(SPARK_WORKER_CORES),
                    "--memory",
                    HEAPS["spark-executor"],
                    "--work-dir",
                    str(data_dir() / "spark" / f"worker-{n}"),
                    SPARK_MASTER_URL,
                ],
                home=root,
                classpath=_spark_classpath(),
                env=_spark_env(),
            )
        )
    return out


ALIASES = {
    "kafka": [f"kafka-{n}" for n in KAFKA_NODES],
    "hdfs": ["namenode", *(f"datanode-{n}" for n in DATANODES)],
    "spark": ["spark-master", *(f"spark-worker-{n}" for n in SPARK_WORKERS)],
}


def select(names: list[str] | None) -> list[Service]:
    wanted: list[str] = []
    for name in names or []:
        wanted += ALIASES.get(name, [name])
    known = {s.name for s in services()}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise StackError(f"unknown service(s) {unknown}; known: {sorted(known)} or {sorted(ALIASES)}")
    return [s for s in services() if not wanted or s.name in wanted]


def service(name: str) -> Service:
    return select([name])[0]


def wait_until(check, what: str, deadline_s: float = CLUSTER_DEADLINE_S, logs: list[Path] | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - not there yet, whatever the reason
            pass
        time.sleep(0.5)
    detail = "".join(f"\n--- last lines of {log}:\n{tail(log, 15)}" for log in logs or [])
    raise StackError(f"the cluster did not become healthy within {deadline_s:.0f}s: {what}{detail}")


def _wait_healthy(started: list[Service]) -> None:
    names = {s.name for s in started}
    if names & set(ALIASES["kafka"]):
        wait_until(
            kafka_cluster_healthy,
            "every Kafka node sees 3 brokers, no under-replicated partition",
            logs=[s.log for s in started if s.name.startswith("kafka")],
        )
        print("kafka: 3 brokers, every partition fully replicated", flush=True)
    if names & set(ALIASES["hdfs"]):
        wait_until(hdfs_cluster_healthy, "2 live DataNodes, safe mode off", logs=[service("namenode").log])
        print("hdfs: 2 live DataNodes, safe mode off", flush=True)
    if names & set(ALIASES["spark"]):
        wait_until(spark_cluster_healthy, "2 workers ALIVE", logs=[service("spark-master").log])
        print(f"spark: {SPARK_MASTER_URL} with 2 workers ALIVE", flush=True)


def up(names: list[str] | None = None) -> None:
    java_bin()
    spark_home(strict=True)
    if not jars_ready():
        resolve_jars()
    write_configs()
    started = select(names)
    for svc in started:
        print(svc.start(), flush=True)
    _wait_healthy(started)


def down(names: list[str] | None = None) -> None:
    """Stop in reverse start order; the Kafka nodes all at once (stopped one by one, the last ones lose their
    controller quorum and their controlled shutdown waits for it until they are killed)."""
    from concurrent.futures import ThreadPoolExecutor

    chosen = list(reversed(select(names)))
    kafka = [s for s in chosen if s.name in ALIASES["kafka"]]
    for svc in chosen:
        if svc in kafka:
            if svc is kafka[0]:
                with ThreadPoolExecutor(len(kafka)) as pool:
                    for line in pool.map(lambda s: s.stop(), kafka):
                        print(line, flush=True)
        else:
            print(svc.stop(), flush=True)


def restart(name: str) -> None:
    """A controlled restart of one service (graceful stop, start), then wait until the cluster is whole again:
    for a Kafka node, until it is back in every partition's ISR. Run it for each node in turn for a rolling
    restart."""
    svc = service(name)
    print(svc.stop(), flush=True)
    print(svc.start(), flush=True)
    _wait_healthy([svc])


def status(names: list[str] | None = None) -> bool:
    rows = [svc.status() for svc in select(names)]
    cols = ["service", "state", "pid", "ports", "log"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in cols))
    print(
        f"\nKafka bootstrap   {BOOTSTRAP_SERVERS}  (controllers "
        + ",".join(f"localhost:{c}" for _, c in KAFKA_NODES.values())
        + ")\n"
        f"HDFS              {HDFS_URI}, WebHDFS + UI {WEBHDFS_URL}\n"
        f"Spark master      {SPARK_MASTER_URL}, UI http://localhost:{SPARK_MASTER_UI_PORT} "
        "(workers' UIs " + ", ".join(f"http://localhost:{ui}" for _, ui in SPARK_WORKERS.values()) + ")\n"
        f"Heaps             {', '.join(f'{k} {v}' for k, v in HEAPS.items())}\n"
        f"Data, logs, PIDs  {cluster_dir()}"
    )
    return all(r["state"] == "up" for r in rows)


def reset() -> None:
    down()
    shutil.rmtree(cluster_dir(), ignore_errors=True)
    print(f"reset: removed {cluster_dir()} (data, logs, config, PIDs of the cluster profile)")


def _restart_verb(rest: list[str]) -> None:
    if not rest:
        raise single.UsageError
    for name in rest:  # one after the other
        restart(name)


def main(argv: list[str] | None = None) -> int:
    usage = (
        "usage: python -m include.stack.cluster {up|down|status|reset} [service|kafka|hdfs|spark ...]\n"
        "       python -m include.stack.cluster restart <service> [<service> ...]   (one after the other)"
    )
    return single.dispatch(
        argv,
        usage,
        {**single.lifecycle_verbs(up, down, status, reset), "restart": _restart_verb},
    )


if __name__ == "__main__":
    sys.exit(main())
