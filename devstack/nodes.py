"""The two stack profiles as data: each is a list of node specs that devstack/engine.py runs, in order.

- ``single`` (the default): one Kafka KRaft node (PLAINTEXT localhost:9092, SASL_SSL 9093 and mTLS 9094 unless
  SECURE=0), a NameNode (8020, WebHDFS 9870) and a DataNode; Spark runs in the driver (local[*]). On demand (nodes
  that ``up`` starts only when named: ``python -m devstack up yarn``, ``make up YARN=1``, ``make bench``'s yarn
  stage, ``make test-yarn``): a YARN ResourceManager and one NodeManager on its HDFS (ports ``YARN_PORT_BASE`` +
  Hadoop's, 18032/18088/18041/18042 by default).
- ``cluster``: 3 Kafka KRaft nodes (combined broker + controller, one static quorum, replication 3, min ISR 2),
  a NameNode + 2 DataNodes (replication 2), Spark standalone (a master + 2 one-core workers) and YARN (a
  ResourceManager + 2 NodeManagers, on the same HDFS), on ports disjoint from the single profile's so that both
  can run at once, under ``$STACK_DIR/cluster/``.

A node spec says what a node is (main class, jar set, ports, heap, config templates, storage format step,
health check); the engine knows how to run any of them. Every port comes from here and may be overridden by
the environment variable named next to it (e.g. ``KAFKA_PORT=39092``), which is how a second single-node
stack runs beside the first (with its own ``STACK_DIR``). Every heap is here too, and nowhere else.

Standard library only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from devstack import health

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def stack_dir() -> Path:
    """Everything the stack writes: jars/, and per profile conf/, data/, logs/, run/ (``.stack`` or $STACK_DIR)."""
    return Path(os.environ.get("STACK_DIR", PROJECT_ROOT / ".stack")).resolve()


def hdfs_user() -> str:
    if user := os.environ.get("HADOOP_USER_NAME") or os.environ.get("USER"):
        return user
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def kafka_secure() -> bool:
    """SECURE=1 (the default): the broker also listens with SASL_SSL, with ACLs on (devstack/secure.py)."""
    return os.environ.get("KAFKA_SECURE", "1").strip().lower() not in ("0", "false", "no", "off")


def port(variable: str, default: int) -> int:
    return int(os.environ.get(variable, str(default)))


def kafka_secure_port() -> int:
    """The single profile's SASL_SSL listener (the secure connections' bootstrap, devstack/secure.py)."""
    return port("KAFKA_SECURE_PORT", 9093)


def kafka_mtls_port() -> int:
    """The single profile's SSL listener that requires a client certificate (mTLS; devstack/secure.py)."""
    return port("KAFKA_MTLS_PORT", 9094)


@dataclass(frozen=True)
class Check:
    """A health check: ``probe()`` is True when healthy (it may raise: not healthy yet); ``what`` says what it
    waits for, in the error when it never is."""

    what: str
    probe: Callable[[], bool]


@dataclass(frozen=True)
class Config:
    """A template of devstack/conf/ rendered with ``values`` (string.Template) to ``dest``."""

    template: str
    dest: Path
    values: dict[str, object]
    private: bool = False  # may hold a password: 0600 from the first byte


@dataclass(frozen=True)
class Format:
    """A storage format step: ``java -cp <jars> main_class args`` once, unless ``done`` exists.
    ``{cluster_id}`` in args is the profile's Kafka cluster id (one per profile, kept with its data)."""

    main_class: str
    args: tuple[str, ...]
    done: Path
    log: Path | None = None


@dataclass(frozen=True)
class Node:
    name: str
    main_class: str
    jars: str  # a jar set of devstack/pom.xml (kafka, hdfs, yarn), or "spark" (the pyspark wheel's jars)
    ports: tuple[int, ...]
    heap: str
    ready: Check
    log: Path  # the service's own log (supervisord keeps its stdout in logs/<name>.out)
    args: tuple[str, ...] = ()
    sysprops: dict[str, str] = field(default_factory=dict)
    conf_dirs: tuple[Path, ...] = ()  # put first on the classpath (Hadoop's *-site.xml)
    configs: tuple[Config, ...] = ()
    format: Format | None = None
    env: dict[str, str] = field(default_factory=dict)
    # nodes with the same stop_group stop at once (a KRaft quorum stopped one node at a time loses its majority,
    # and the last nodes' controlled shutdown then waits for it until it is killed)
    stop_group: str = ""
    # the SASL_SSL listener's port when this node is the secure broker (devstack/secure.py sets it up)
    secure_port: int | None = None
    # ... and its SSL listener that requires a client certificate (mTLS), beside it
    mtls_port: int | None = None
    # started only when named (``up yarn``), never by a bare ``up``; ``down`` stops it with the rest
    on_demand: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    home: Path  # conf/, data/, logs/, run/ of this profile
    nodes: tuple[Node, ...]
    groups: dict[str, tuple[str, ...]]  # aliases: "hdfs" -> namenode + datanodes
    # waited for (with the engine's deadline) after any node of the group started: the group as a whole
    whole: dict[str, Check] = field(default_factory=dict)
    spark_defaults: Config | None = None
    addresses: tuple[str, ...] = ()  # shown by `status`
    hadoop_client_conf: Path | None = None  # what `hdfs-dfs` uses

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def spark_conf_dir(self) -> Path:
        """What the Makefile exports as SPARK_CONF_DIR (spark-submit's spark-defaults.conf) for this profile."""
        return self.conf_dir / "spark"

    def node(self, name: str) -> Node:
        return self.select([name])[0]

    def select(self, names: list[str] | None, every: bool = False) -> list[Node]:
        """The nodes named (or of the groups named), in start order; when ``names`` is empty, all of them but the
        on-demand ones (every one with ``every``: what ``down`` and ``status`` cover)."""
        wanted: list[str] = []
        for name in names or []:
            wanted += self.groups.get(name, (name,))
        known = [n.name for n in self.nodes]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {known} or {sorted(self.groups)}")
        if not wanted:
            return [n for n in self.nodes if every or not n.on_demand]
        return [n for n in self.nodes if n.name in wanted]


# Java 17 closes JDK internals that Hadoop's JAXB/Jersey and Kafka still reach into (Hadoop's own scripts add
# the same flags on 17).
JAVA17_OPENS = tuple(
    f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
    for pkg in (
        "java.lang",
        "java.lang.reflect",
        "java.io",
        "java.net",
        "java.nio",
        "java.util",
        "java.util.concurrent",
        "sun.nio.ch",
    )
)


def _kafka_log4j(logs: Path) -> dict[str, str]:
    return {"kafka.logs.dir": str(logs), "log4j2.configurationFile": str(CONF_SRC / "kafka-log4j2.properties")}


def _hadoop_props(home: Path, log: Path) -> dict[str, str]:
    return {"hadoop.log.file": str(log), "hadoop.home.dir": str(home)}


CONF_SRC = Path(__file__).resolve().parent / "conf"


# ------------------------------------------------------------------------------------------- YARN, both profiles


def _no_datanode(values: dict[str, object]) -> dict[str, object]:
    """hdfs-site.xml values for a client of the HDFS (a YARN daemon): no DataNode of its own."""
    return {
        **values,
        "datanode_port": 0,
        "datanode_http_port": 0,
        "datanode_ipc_port": 0,
        "datanode_dir": Path(str(values["data_dir"])) / "none",
    }


def yarn_whole(rm_ports: dict[str, int], nodemanagers) -> Check:
    nm_ports = [nm[0] for nm in nodemanagers]
    return Check(
        f"the ResourceManager lists {len(nm_ports)} NodeManager(s) RUNNING",
        partial(health.yarn_nodes_running, rm_ports["webapp"], nm_ports),
    )


def yarn_nodes(
    home: Path,
    rm_ports: dict[str, int],
    nodemanagers: dict[str, tuple[int, int, int, int]],
    sizes: dict[str, object],
    hdfs_client_configs: Callable[[Path], tuple[Config, ...]],
    on_demand: bool = False,
) -> list[Node]:
    """A ResourceManager and its NodeManagers ({node name: (rpc, localizer, web, https)}) under ``home``, on the HDFS
    that ``hdfs_client_configs(folder)`` describes (core-site.xml and hdfs-site.xml into that folder). The
    ResourceManager's folder, ``<home>/conf/hadoop-resourcemanager``, is the clients' HADOOP_CONF_DIR."""
    conf, data, logs = home / "conf", home / "data", home / "logs"
    first_nm = next(iter(nodemanagers.values()))

    def configs(daemon: str, nm: tuple[int, int, int, int]) -> tuple[Config, ...]:
        values = dict(
            **{f"rm_{k}_port" if k != "rpc" else "rm_port": v for k, v in rm_ports.items()},
            rm_webapp_https_port=rm_ports["https"],
            nm_port=nm[0],
            nm_localizer_port=nm[1],
            nm_webapp_port=nm[2],
            nm_webapp_https_port=nm[3],
            nm_dir=data / "yarn" / daemon,
            **sizes,
        )
        out = conf / f"hadoop-{daemon}"
        return (
            *hdfs_client_configs(out),
            Config("yarn-site.xml", out / "yarn-site.xml", values),
            Config("capacity-scheduler.xml", out / "capacity-scheduler.xml", values),
            Config("hadoop-log4j.properties", out / "log4j.properties", {}),
        )

    rm_webapp = rm_ports["webapp"]
    out = [
        Node(
            name="yarn-resourcemanager",
            main_class="org.apache.hadoop.yarn.server.resourcemanager.ResourceManager",
            jars="yarn",
            ports=tuple(rm_ports[k] for k in ("rpc", "scheduler", "tracker", "admin", "webapp")),
            heap=HEAPS["yarn-resourcemanager"],
            ready=Check(
                f"REST API STARTED on http://localhost:{rm_webapp}", partial(health.yarn_rm_started, rm_webapp)
            ),
            log=logs / "yarn-resourcemanager.log",
            sysprops=_hadoop_props(home, logs / "yarn-resourcemanager.log"),
            conf_dirs=(conf / "hadoop-resourcemanager",),
            configs=configs("resourcemanager", first_nm),
            on_demand=on_demand,
        )
    ]
    for name, nm in nodemanagers.items():
        daemon = name.removeprefix("yarn-")
        out.append(
            Node(
                name=name,
                main_class="org.apache.hadoop.yarn.server.nodemanager.NodeManager",
                jars="yarn",
                ports=nm[:3],
                heap=HEAPS["yarn-nodemanager"],
                ready=Check(
                    f"RUNNING in the ResourceManager's node list as localhost:{nm[0]}, UI http://localhost:{nm[2]}",
                    partial(health.yarn_nodes_running, rm_webapp, [nm[0]]),
                ),
                log=logs / f"{name}.log",
                sysprops=_hadoop_props(home, logs / f"{name}.log"),
                conf_dirs=(conf / f"hadoop-{daemon}",),
                configs=configs(daemon, nm),
                # the containers' launch scripts run $JAVA_HOME/bin/java
                env={"JAVA_HOME": java_home()},
                on_demand=on_demand,
            )
        )
    return out


def spark_defaults(
    folder: Path, *, executor_instances: int, executor_cores: int, executor_memory: str, replication: int
) -> Config:
    """spark-submit's defaults (spark-defaults.conf in ``folder``, the SPARK_CONF_DIR of a run on this profile's
    Spark standalone or YARN)."""
    return Config(
        "spark-defaults.conf",
        folder / "spark-defaults.conf",
        {
            "executor_instances": executor_instances,
            "executor_cores": executor_cores,
            "executor_memory": executor_memory,
            "replication": replication,
            "spark_jars": spark_home() / "jars",
            "python": sys.executable,
        },
    )


# ------------------------------------------------------------------------------------------------ single


def single() -> Profile:
    home = stack_dir()
    conf, data, logs = home / "conf", home / "data", home / "logs"
    kafka_port = port("KAFKA_PORT", 9092)
    controller = port("KAFKA_CONTROLLER_PORT", 19092)
    secure_port = kafka_secure_port()
    mtls_port = kafka_mtls_port()
    nn_rpc, nn_http = port("NAMENODE_RPC_PORT", 8020), port("NAMENODE_HTTP_PORT", 9870)
    dn_data, dn_http, dn_ipc = (
        port("DATANODE_PORT", 9866),
        port("DATANODE_HTTP_PORT", 9864),
        port("DATANODE_IPC_PORT", 9867),
    )
    hadoop_conf = conf / "hadoop"
    hdfs_values = dict(
        namenode_rpc_port=nn_rpc,
        namenode_http_port=nn_http,
        datanode_port=dn_data,
        datanode_http_port=dn_http,
        datanode_ipc_port=dn_ipc,
        data_dir=data / "hdfs",
    )
    hadoop_configs = (
        Config("core-site.xml", hadoop_conf / "core-site.xml", hdfs_values),
        Config("hdfs-site.xml", hadoop_conf / "hdfs-site.xml", hdfs_values),
        Config("hadoop-log4j.properties", hadoop_conf / "log4j.properties", {}),
    )
    server_properties = conf / "kafka" / "server.properties"
    secure = kafka_secure()
    nodes = (
        Node(
            name="kafka",
            main_class="kafka.Kafka",
            jars="kafka",
            ports=(kafka_port, controller, *((secure_port, mtls_port) if secure else ())),
            heap="1g",
            ready=Check(
                f"broker answers metadata on localhost:{kafka_port}", partial(health.kafka_answers, kafka_port)
            ),
            log=logs / "kafka.log",
            args=(str(server_properties),),
            sysprops=_kafka_log4j(logs),
            configs=(
                Config(
                    "kafka-server.properties",
                    server_properties,
                    dict(kafka_port=kafka_port, controller_port=controller, data_dir=data / "kafka"),
                    private=True,  # the secure overlay adds the keystore's password
                ),
            ),
            format=Format(
                "kafka.tools.StorageTool",
                ("format", "-t", "{cluster_id}", "-c", str(server_properties), "--standalone"),
                done=data / "kafka" / "meta.properties",
            ),
            secure_port=secure_port if secure else None,
            mtls_port=mtls_port if secure else None,
        ),
        Node(
            name="namenode",
            main_class="org.apache.hadoop.hdfs.server.namenode.NameNode",
            jars="hdfs",
            ports=(nn_rpc, nn_http),
            heap="512m",
            ready=Check(
                f"WebHDFS LISTSTATUS / answers on localhost:{nn_http}", partial(health.webhdfs_ok, nn_http, hdfs_user())
            ),
            log=logs / "namenode.log",
            sysprops=_hadoop_props(home, logs / "namenode.log"),
            conf_dirs=(hadoop_conf,),
            configs=hadoop_configs,
            format=Format(
                "org.apache.hadoop.hdfs.server.namenode.NameNode",
                ("-format", "-nonInteractive"),
                done=data / "hdfs" / "name" / "current" / "VERSION",
                log=logs / "namenode-format.log",
            ),
        ),
        Node(
            name="datanode",
            main_class="org.apache.hadoop.hdfs.server.datanode.DataNode",
            jars="hdfs",
            ports=(dn_data, dn_http, dn_ipc),
            heap="512m",
            ready=Check(
                "registered with the NameNode, safe mode off",
                lambda: health.datanode_registered(nn_http, dn_http, dn_data) and health.hdfs_healthy(nn_http, 1),
            ),
            log=logs / "datanode.log",
            sysprops=_hadoop_props(home, logs / "datanode.log"),
            conf_dirs=(hadoop_conf,),
            configs=hadoop_configs,
        ),
    )
    rm_ports, nm_ports = single_yarn_ports()

    def hdfs_client_configs(out: Path) -> tuple[Config, ...]:
        return (
            Config("core-site.xml", out / "core-site.xml", hdfs_values),
            Config("hdfs-site.xml", out / "hdfs-site.xml", hdfs_values),
        )

    yarn = yarn_nodes(home, rm_ports, {"yarn-nodemanager": nm_ports}, SINGLE_YARN, hdfs_client_configs, on_demand=True)
    return Profile(
        name="single",
        home=home,
        nodes=(*nodes, *yarn),
        groups={"hdfs": ("namenode", "datanode"), "yarn": tuple(n.name for n in yarn)},
        whole={"yarn": yarn_whole(rm_ports, [nm_ports])},
        spark_defaults=spark_defaults(single_yarn_spark_conf_dir(), **SINGLE_YARN_EXECUTOR, replication=1),
        addresses=(
            f"Kafka bootstrap   localhost:{kafka_port}"
            + (f" (SASL_SSL localhost:{secure_port}, mTLS localhost:{mtls_port})" if secure else ""),
            f"HDFS              hdfs://localhost:{nn_rpc}, WebHDFS + UI http://localhost:{nn_http}",
            "Spark             local[*] (in the driver)",
            f"YARN (on demand)  ResourceManager localhost:{rm_ports['rpc']}, UI + REST http://localhost:"
            f"{rm_ports['webapp']} (NodeManager localhost:{nm_ports[0]} UI http://localhost:{nm_ports[2]}; "
            f"{SINGLE_YARN['nm_memory_mb']} MB); HADOOP_CONF_DIR {single_yarn_conf_dir()}: make up YARN=1",
        ),
        hadoop_client_conf=hadoop_conf,
    )


# ----------------------------------------------------------------------------------------------- cluster

# none of these is a port of the single profile (9092/9093/9094/19092, 8020/9870, 9864/9866/9867, 8080)
KAFKA_NODES = {1: (29092, 29093), 2: (29094, 29095), 3: (29096, 29097)}  # node id: (broker, controller)
NAMENODE_RPC_PORT = 28020
NAMENODE_HTTP_PORT = 29870
DATANODES = {1: (29866, 29864, 29867), 2: (29966, 29964, 29967)}  # n: (data transfer, http, ipc)
SPARK_MASTER_PORT = 7077
SPARK_MASTER_UI_PORT = 8180  # 8080 is Airflow's
SPARK_WORKERS = {1: (7078, 8181), 2: (7079, 8182)}  # n: (rpc, web UI)
SPARK_WORKER_CORES = 1
# YARN: none of these is a default Hadoop port (8030-8033, 8088, 8040/8042) nor another stack's (39xxx, 38080)
YARN_RM_PORTS = {"rpc": 28032, "scheduler": 28030, "tracker": 28031, "admin": 28033, "webapp": 28088, "https": 28090}
YARN_NODEMANAGERS = {
    1: (28041, 28040, 28042, 28044),
    2: (28141, 28140, 28142, 28144),
}  # n: (rpc, localizer, web, https)
# What each NodeManager offers to containers, in one place (devstack/conf/cluster/yarn-site.xml takes it from
# here). 2 cores and 24 GiB shared with other work: the whole YARN may hand out 2 x 3 GB. A Spark container is
# its JVM's heap + 384 MB overhead, rounded up to the minimum allocation: an executor (512m) 896 MB, a
# client-mode AM (512m) 896 MB, a cluster-mode driver (spark.driver.memory 1g) 1408 MB. A cluster-mode job
# (driver + 2 executors) takes 3.2 GB, a client-mode job 2.7 GB: two jobs fit at once, so a retry can start
# beside an application that is still being killed. Vcores are advertised, not enforced (capacity-scheduler.xml).
YARN = {
    "nm_memory_mb": 3072,
    "nm_vcores": 2,
    "min_allocation_mb": 128,
    "am_percent": 0.5,  # of the queue for ApplicationMasters (a cluster-mode driver is one)
    "nm_expiry_ms": 10000,  # a NodeManager silent this long is LOST (YARN's default: 10 minutes)
}

# Sized for 2 cores and 24 GiB shared with other work (about 5.3 GB of daemon heaps, plus YARN's containers).
HEAPS = {
    "kafka": "384m",  # each of the 3 nodes (broker + controller)
    "namenode": "384m",
    "datanode": "256m",  # each of the 2
    "spark-master": "256m",
    "spark-worker": "192m",  # each worker daemon; its executors are separate JVMs
    "spark-executor": "512m",  # = each worker's --memory: one executor per worker (spark-defaults.conf)
    "yarn-resourcemanager": "384m",
    "yarn-nodemanager": "256m",  # each of the 2 daemons; their containers are separate JVMs (YARN above)
    # the Spark driver (spark-submit, client mode) keeps the DAG's spark.driver.memory
}

BOOTSTRAP_SERVERS = ",".join(f"localhost:{broker}" for broker, _ in KAFKA_NODES.values())
HDFS_URI = f"hdfs://localhost:{NAMENODE_RPC_PORT}"
WEBHDFS_URL = f"http://localhost:{NAMENODE_HTTP_PORT}"
SPARK_MASTER_URL = f"spark://localhost:{SPARK_MASTER_PORT}"
YARN_RM_WEBAPP_URL = f"http://localhost:{YARN_RM_PORTS['webapp']}"


def spark_home() -> Path:
    """The pyspark wheel's folder: Spark's jars/ and bin/ (it has no start-master/start-worker scripts).

    From this Python, or else the project's .venv (so that `down` and `status` work from any Python)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    found = sorted(PROJECT_ROOT.glob(".venv/lib/python3*/site-packages/pyspark"))
    return found[0] if found else PROJECT_ROOT / ".venv" / "pyspark-not-installed"


def java_home() -> str:
    """The JDK's home: $JAVA_HOME, or the one whose java is on PATH."""
    if home := os.environ.get("JAVA_HOME"):
        return home
    import shutil

    java = shutil.which("java")
    return str(Path(java).resolve().parents[1]) if java else "/usr/lib/jvm/default-java"


def yarn_conf_dir() -> Path:
    """The cluster's client configuration (core-, hdfs-, yarn-site.xml): what the Makefile exports as
    HADOOP_CONF_DIR for spark-submit on YARN (the ResourceManager's own folder)."""
    return stack_dir() / "cluster" / "conf" / "hadoop-resourcemanager"


# The single profile's YARN, on demand: a ResourceManager and one NodeManager on the single stack's HDFS, for
# `make bench`'s yarn stage (the write and read jobs on YARN beside local[*], in the same run), `make test-yarn`
# and `make run SPARK_MASTER=yarn`. Its ports are YARN_PORT_BASE + the last digits of Hadoop's defaults (18032,
# 18088, 18041, 18042 ...): none is the cluster profile's (28xxx/29xxx), the single stack's, or in the ephemeral
# range; a second single stack moves them all with one variable (YARN_PORT_BASE=17000).
SINGLE_YARN_PORT_BASE = 18000
SINGLE_YARN_OFFSETS = {"rpc": 32, "scheduler": 30, "tracker": 31, "admin": 33, "webapp": 88, "https": 90}
SINGLE_YARN_NM_OFFSETS = (41, 40, 42, 44)  # (rpc, localizer, web, https)
# What its NodeManager offers, and the executor every job gets (spark-defaults.conf of .stack/conf/spark-yarn/):
# one executor of 2 cores, as local[*] has 2 task threads on this 2-core machine, and 1 GB, local[*]'s driver heap.
# A client-mode job is its ApplicationMaster (512m + 384 MB) and the executor (1g + 384 MB): 2.3 GB; a
# cluster-mode job is its driver (spark.driver.memory 1g + 384 MB) and the executor: 2.8 GB. One job at a time.
SINGLE_YARN = {**YARN, "nm_memory_mb": 3072, "am_percent": 0.5}
SINGLE_YARN_EXECUTOR = {"executor_instances": 1, "executor_cores": 2, "executor_memory": "1g"}


def single_yarn_ports() -> tuple[dict[str, int], tuple[int, int, int, int]]:
    """(the ResourceManager's ports by role, the NodeManager's (rpc, localizer, web, https)), from YARN_PORT_BASE."""
    base = port("YARN_PORT_BASE", SINGLE_YARN_PORT_BASE)
    rm = {role: base + offset for role, offset in SINGLE_YARN_OFFSETS.items()}
    rpc, localizer, web, https = (base + offset for offset in SINGLE_YARN_NM_OFFSETS)
    return rm, (rpc, localizer, web, https)


def single_yarn_rm_url() -> str:
    """The single profile's ResourceManager web address (the Spark connection's yarn_resourcemanager_webapp_address)."""
    return f"http://localhost:{single_yarn_ports()[0]['webapp']}"


def single_yarn_conf_dir() -> Path:
    """HADOOP_CONF_DIR of a spark-submit on the single profile's YARN (its ResourceManager's folder)."""
    return stack_dir() / "conf" / "hadoop-resourcemanager"


def single_yarn_spark_conf_dir() -> Path:
    """SPARK_CONF_DIR of a spark-submit on the single profile's YARN (its executor and spark.yarn.jars)."""
    return stack_dir() / "conf" / "spark-yarn"


def spark_on_yarn_env(mode: str, profile_name: str = "single") -> dict[str, str]:
    """What `make run [PROFILE=cluster] SPARK_MASTER=yarn SPARK_DEPLOY_MODE=<mode>` sets for a run on that profile's
    YARN: the spark_default connection, and spark-submit's HADOOP_CONF_DIR and SPARK_CONF_DIR. The DAGs are the
    same. (The single profile's local runs keep SPARK_SUBMIT_OPTS, the driver's CDS archive, which a
    SPARK_CONF_DIR on the classpath makes the JVM refuse: a YARN run goes without it, as the cluster's do.)"""
    import json

    if mode not in ("client", "cluster"):
        raise ValueError(f"SPARK_DEPLOY_MODE must be client or cluster, not {mode!r}")
    if profile_name == "cluster":
        rm, hadoop_conf, spark_conf = YARN_RM_WEBAPP_URL, yarn_conf_dir(), stack_dir() / "cluster" / "conf" / "spark"
    else:
        rm, hadoop_conf, spark_conf = single_yarn_rm_url(), single_yarn_conf_dir(), single_yarn_spark_conf_dir()
    connection = {
        "conn_type": "spark",
        "host": "yarn",
        "extra": {"deploy-mode": mode, "spark-binary": "spark-submit", "yarn_resourcemanager_webapp_address": rm},
    }
    return {
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(connection),
        "HADOOP_CONF_DIR": str(hadoop_conf),
        "SPARK_CONF_DIR": str(spark_conf),
    }


def cluster() -> Profile:
    home = stack_dir() / "cluster"
    conf, data, logs = home / "conf", home / "data", home / "logs"
    nodes: list[Node] = []
    voters = ",".join(f"{n}@localhost:{ctrl}" for n, (_, ctrl) in KAFKA_NODES.items())
    for n, (broker, controller) in KAFKA_NODES.items():
        properties = conf / f"kafka-{n}" / "server.properties"
        nodes.append(
            Node(
                name=f"kafka-{n}",
                main_class="kafka.Kafka",
                jars="kafka",
                ports=(broker, controller),
                heap=HEAPS["kafka"],
                # a node can't answer metadata before a majority of the quorum is up: its controller port is
                # enough here, and the group's whole-cluster check then waits for all three
                ready=Check(f"controller listening on localhost:{controller}", partial(health.port_open, controller)),
                log=logs / f"kafka-{n}" / "kafka.log",
                args=(str(properties),),
                sysprops=_kafka_log4j(logs / f"kafka-{n}"),
                configs=(
                    Config(
                        "cluster/kafka-server.properties",
                        properties,
                        dict(
                            node_id=n,
                            voters=voters,
                            kafka_port=broker,
                            controller_port=controller,
                            data_dir=data / f"kafka-{n}",
                        ),
                    ),
                ),
                format=Format(
                    "kafka.tools.StorageTool",
                    ("format", "-t", "{cluster_id}", "-c", str(properties)),
                    done=data / f"kafka-{n}" / "meta.properties",
                ),
                stop_group="kafka",
            )
        )

    def hadoop_configs(daemon: str, dn: tuple[int, int, int]) -> tuple[Config, ...]:
        values = dict(
            namenode_rpc_port=NAMENODE_RPC_PORT,
            namenode_http_port=NAMENODE_HTTP_PORT,
            datanode_port=dn[0],
            datanode_http_port=dn[1],
            datanode_ipc_port=dn[2],
            data_dir=data / "hdfs",
            datanode_dir=data / "hdfs" / daemon,
        )
        out = conf / f"hadoop-{daemon}"
        return (
            Config("cluster/core-site.xml", out / "core-site.xml", values),
            Config("cluster/hdfs-site.xml", out / "hdfs-site.xml", values),
            Config("hadoop-log4j.properties", out / "log4j.properties", {}),
        )

    nodes.append(
        Node(
            name="namenode",
            main_class="org.apache.hadoop.hdfs.server.namenode.NameNode",
            jars="hdfs",
            ports=(NAMENODE_RPC_PORT, NAMENODE_HTTP_PORT),
            heap=HEAPS["namenode"],
            ready=Check(
                f"WebHDFS LISTSTATUS / answers on localhost:{NAMENODE_HTTP_PORT}",
                partial(health.webhdfs_ok, NAMENODE_HTTP_PORT, hdfs_user()),
            ),
            log=logs / "namenode.log",
            sysprops=_hadoop_props(home, logs / "namenode.log"),
            conf_dirs=(conf / "hadoop-namenode",),
            configs=hadoop_configs("namenode", (0, 0, 0)),
            format=Format(
                "org.apache.hadoop.hdfs.server.namenode.NameNode",
                ("-format", "-nonInteractive"),
                done=data / "hdfs" / "name" / "current" / "VERSION",
                log=logs / "namenode-format.log",
            ),
        )
    )
    for n, dn in DATANODES.items():
        nodes.append(
            Node(
                name=f"datanode-{n}",
                main_class="org.apache.hadoop.hdfs.server.datanode.DataNode",
                jars="hdfs",
                ports=dn,
                heap=HEAPS["datanode"],
                ready=Check(
                    "registered with the NameNode and heartbeating",
                    partial(health.datanode_registered, NAMENODE_HTTP_PORT, dn[1], dn[0]),
                ),
                log=logs / f"datanode-{n}.log",
                sysprops=_hadoop_props(home, logs / f"datanode-{n}.log"),
                conf_dirs=(conf / f"hadoop-datanode-{n}",),
                configs=hadoop_configs(f"datanode-{n}", dn),
            )
        )
    spark_env = {
        # the worker starts executors with SPARK_HOME/bin's launcher and jars
        "SPARK_HOME": str(spark_home()),
        # a wheel is not a Spark distribution: without this, the launcher looks for build directories
        "SPARK_SCALA_VERSION": "2.13",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(logs),
    }
    spark_props = {"spark.master.rest.enabled": "false", "spark.ui.reverseProxy": "false"}
    nodes.append(
        Node(
            name="spark-master",
            main_class="org.apache.spark.deploy.master.Master",
            jars="spark",
            ports=(SPARK_MASTER_PORT, SPARK_MASTER_UI_PORT),
            heap=HEAPS["spark-master"],
            ready=Check(
                f"{SPARK_MASTER_URL} ALIVE, UI http://localhost:{SPARK_MASTER_UI_PORT}",
                partial(health.spark_master_alive, SPARK_MASTER_UI_PORT),
            ),
            log=logs / "spark-master.out",
            args=("--host", "localhost", "--port", str(SPARK_MASTER_PORT), "--webui-port", str(SPARK_MASTER_UI_PORT)),
            sysprops=spark_props,
            env=spark_env,
        )
    )
    for n, (rpc, ui) in SPARK_WORKERS.items():
        nodes.append(
            Node(
                name=f"spark-worker-{n}",
                main_class="org.apache.spark.deploy.worker.Worker",
                jars="spark",
                ports=(rpc, ui),
                heap=HEAPS["spark-worker"],
                ready=Check(
                    f"registered ALIVE with the master, UI http://localhost:{ui}",
                    partial(health.spark_workers_alive, SPARK_MASTER_UI_PORT, [rpc]),
                ),
                log=logs / f"spark-worker-{n}.out",
                args=(
                    *("--host", "localhost", "--port", str(rpc), "--webui-port", str(ui)),
                    *("--cores", str(SPARK_WORKER_CORES), "--memory", HEAPS["spark-executor"]),
                    *("--work-dir", str(data / "spark" / f"worker-{n}"), SPARK_MASTER_URL),
                ),
                sysprops={
                    **spark_props,
                    # applications' folders (jars, logs) are removed a day after they end
                    "spark.worker.cleanup.enabled": "true",
                    "spark.worker.cleanup.interval": "3600",
                    "spark.worker.cleanup.appDataTtl": "86400",
                },
                env=spark_env,
            )
        )

    def hdfs_client_configs(out: Path) -> tuple[Config, ...]:
        values = dict(
            namenode_rpc_port=NAMENODE_RPC_PORT,
            namenode_http_port=NAMENODE_HTTP_PORT,
            data_dir=data / "hdfs",
        )
        return (
            Config("cluster/core-site.xml", out / "core-site.xml", values),
            Config("cluster/hdfs-site.xml", out / "hdfs-site.xml", _no_datanode(values)),
        )

    nodes += yarn_nodes(
        home,
        YARN_RM_PORTS,
        {f"yarn-nodemanager-{n}": nm for n, nm in YARN_NODEMANAGERS.items()},
        YARN,
        hdfs_client_configs,
    )
    kafka = {n: broker for n, (broker, _) in KAFKA_NODES.items()}
    worker_ports = [rpc for rpc, _ in SPARK_WORKERS.values()]
    return Profile(
        name="cluster",
        home=home,
        nodes=tuple(nodes),
        groups={
            "kafka": tuple(f"kafka-{n}" for n in KAFKA_NODES),
            "hdfs": ("namenode", *(f"datanode-{n}" for n in DATANODES)),
            "spark": ("spark-master", *(f"spark-worker-{n}" for n in SPARK_WORKERS)),
            "yarn": ("yarn-resourcemanager", *(f"yarn-nodemanager-{n}" for n in YARN_NODEMANAGERS)),
        },
        whole={
            "kafka": Check(
                f"every Kafka node sees {len(kafka)} brokers, no under-replicated partition",
                partial(health.kafka_cluster_healthy, kafka),
            ),
            "hdfs": Check(
                f"{len(DATANODES)} live DataNodes, safe mode off",
                partial(health.hdfs_healthy, NAMENODE_HTTP_PORT, len(DATANODES)),
            ),
            "spark": Check(
                f"{len(SPARK_WORKERS)} workers ALIVE",
                partial(health.spark_workers_alive, SPARK_MASTER_UI_PORT, worker_ports),
            ),
            "yarn": yarn_whole(YARN_RM_PORTS, YARN_NODEMANAGERS.values()),
        },
        spark_defaults=spark_defaults(
            conf / "spark",
            executor_instances=len(SPARK_WORKERS),
            executor_cores=SPARK_WORKER_CORES,
            executor_memory=HEAPS["spark-executor"],
            replication=2,
        ),
        addresses=(
            f"Kafka bootstrap   {BOOTSTRAP_SERVERS}  (controllers "
            + ",".join(f"localhost:{c}" for _, c in KAFKA_NODES.values())
            + ")",
            f"HDFS              {HDFS_URI}, WebHDFS + UI {WEBHDFS_URL}",
            f"Spark master      {SPARK_MASTER_URL}, UI http://localhost:{SPARK_MASTER_UI_PORT} (workers' UIs "
            + ", ".join(f"http://localhost:{ui}" for _, ui in SPARK_WORKERS.values())
            + ")",
            f"YARN              ResourceManager localhost:{YARN_RM_PORTS['rpc']}, UI + REST {YARN_RM_WEBAPP_URL} "
            "(NodeManagers "
            + ", ".join(f"localhost:{nm[0]} UI http://localhost:{nm[2]}" for nm in YARN_NODEMANAGERS.values())
            + f"; {YARN['nm_memory_mb']} MB, {YARN['nm_vcores']} vcores each); "
            f"HADOOP_CONF_DIR {conf / 'hadoop-resourcemanager'}",
            f"Heaps             {', '.join(f'{k} {v}' for k, v in HEAPS.items())}",
        ),
        hadoop_client_conf=conf / "hadoop-namenode",
    )


PROFILES = {"single": single, "cluster": cluster}


def profile(name: str | None = None) -> Profile:
    """A profile by name, or $PROFILE's (single by default)."""
    name = name or os.environ.get("PROFILE") or "single"
    if name not in PROFILES:
        raise ValueError(f"PROFILE must be one of {sorted(PROFILES)}, not {name!r}")
    return PROFILES[name]()
