"""The local stack: Kafka (KRaft, one node) and HDFS (NameNode + DataNode), run from Maven Central jars.

Everything lives under one ignored folder (``.stack/`` at the project root, or ``$STACK_DIR``):
``jars/`` (resolved by Maven from ``include/stack/pom.xml``), ``conf/`` (generated), ``data/``, ``logs/``
and ``run/`` (PID files). Each service is started in its own session, tracked by its PID file, and stopped
by that PID only: graceful first, forceful after a deadline.

This module uses the standard library only, so ``make up`` works before anything else is installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from include.stack import secure

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STACK_SRC = Path(__file__).resolve().parent
CONF_SRC = STACK_SRC / "conf"
POM = STACK_SRC / "pom.xml"

KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("KAFKA_CONTROLLER_PORT", "19092"))
# SASL_SSL listener (SCRAM-SHA-512, ACLs), on unless KAFKA_SECURE=0 (make up SECURE=0); see include/stack/secure.py
KAFKA_SECURE_PORT = int(os.environ.get("KAFKA_SECURE_PORT", "9093"))
NAMENODE_RPC_PORT = 8020
NAMENODE_HTTP_PORT = 9870
DATANODE_PORT = 9866
DATANODE_HTTP_PORT = 9864
DATANODE_IPC_PORT = 9867

START_DEADLINE_S = 90
STOP_DEADLINE_S = 30

# Java 17 closes JDK internals that Hadoop's JAXB/Jersey and Kafka still reach into (Hadoop's own scripts
# add the same flags on 17).
JAVA17_OPENS = [
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
]

JAR_PROFILES = ("kafka", "hdfs", "spark-kafka")

KAFKA_TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
}


class StackError(RuntimeError):
    """A stack operation failed; the message says what and what to do."""


def kafka_secure() -> bool:
    """SECURE=1 (the default): the broker also listens with SASL_SSL on KAFKA_SECURE_PORT, with ACLs on."""
    return os.environ.get("KAFKA_SECURE", "1").strip().lower() not in ("0", "false", "no", "off")


def stack_dir() -> Path:
    return Path(os.environ.get("STACK_DIR", PROJECT_ROOT / ".stack")).resolve()


def jars_dir(profile: str) -> Path:
    return stack_dir() / "jars" / profile


def logs_dir() -> Path:
    return stack_dir() / "logs"


def hadoop_conf_dir() -> Path:
    return stack_dir() / "conf" / "hadoop"


def hdfs_user() -> str:
    return os.environ.get("HADOOP_USER_NAME") or os.environ.get("USER") or _login_name()


def _login_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


# --------------------------------------------------------------------------------------------- jars


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready() -> bool:
    stamp = stack_dir() / "jars" / ".pom.sha256"
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest()


def resolve_jars(force: bool = False) -> None:
    """Copy each profile's jars (with transitive dependencies) from Maven into .stack/jars/<profile>/."""
    if jars_ready() and not force:
        print(f"jars: up to date in {stack_dir() / 'jars'}")
        return
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (mvn) not found on PATH - install it (apt-get install maven) and run 'make setup'")
    for profile in JAR_PROFILES:
        out = jars_dir(profile)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        print(f"jars: resolving profile {profile} with Maven ...", flush=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "-P",
            profile,
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(f"Maven could not resolve profile {profile}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    (stack_dir() / "jars" / ".pom.sha256").write_text(_pom_digest() + "\n")
    print("jars: done")


def spark_kafka_jars() -> list[str]:
    """The connector jars that spark-submit gets with --jars (absolute paths, sorted)."""
    folder = jars_dir("spark-kafka")
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not jars:
        raise StackError(f"no Spark Kafka connector jars in {folder} - run 'make setup'")
    return jars


def _classpath(profile: str, *extra: Path) -> str:
    folder = jars_dir(profile)
    if not any(folder.glob("*.jar")):
        raise StackError(f"no jars in {folder} - run 'make setup'")
    return os.pathsep.join([*(str(e) for e in extra), str(folder / "*")])


def java_bin() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise StackError("Java not found: install a JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME")
    return java


# ------------------------------------------------------------------------------------------ config


def _render(template: str, dest: Path, private: bool = False, **values: object) -> None:
    text = Template((CONF_SRC / template).read_text()).substitute({k: str(v) for k, v in values.items()})
    dest.parent.mkdir(parents=True, exist_ok=True)
    if private:  # may hold a password: owner-only from the first byte
        secure.write_private(dest, text)
    else:
        dest.write_text(text)


def write_configs() -> None:
    root = stack_dir()
    server_properties = root / "conf" / "kafka" / "server.properties"
    _render(
        "kafka-server.properties",
        server_properties,
        private=True,
        kafka_port=KAFKA_PORT,
        controller_port=KAFKA_CONTROLLER_PORT,
        data_dir=root / "data" / "kafka",
    )
    if kafka_secure():
        try:
            data = secure.ensure_all(root)
        except secure.SecureSetupError as exc:
            raise StackError(str(exc)) from exc
        overlay = Template((CONF_SRC / "kafka-server-secure.properties").read_text()).substitute(
            kafka_port=KAFKA_PORT,
            secure_port=KAFKA_SECURE_PORT,
            controller_port=KAFKA_CONTROLLER_PORT,
            keystore=secure.broker_keystore(root),
            keystore_password=data["keystore_password"],
            super_users="User:ANONYMOUS;User:admin",
        )
        secure.write_private(server_properties, server_properties.read_text() + "\n" + overlay)
    ports = dict(
        namenode_rpc_port=NAMENODE_RPC_PORT,
        namenode_http_port=NAMENODE_HTTP_PORT,
        datanode_port=DATANODE_PORT,
        datanode_http_port=DATANODE_HTTP_PORT,
        datanode_ipc_port=DATANODE_IPC_PORT,
        data_dir=root / "data" / "hdfs",
    )
    _render("core-site.xml", hadoop_conf_dir() / "core-site.xml", **ports)
    _render("hdfs-site.xml", hadoop_conf_dir() / "hdfs-site.xml", **ports)
    shutil.copy(CONF_SRC / "hadoop-log4j.properties", hadoop_conf_dir() / "log4j.properties")


# ---------------------------------------------------------------------------------------- processes


def port_owner(port: int) -> str | None:
    """Who listens on localhost:<port>: 'name (pid N)', 'unknown process', or None when the port is free."""
    try:
        out = subprocess.run(
            ["ss", "-H", "-ltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    if match:
        return f"{match.group(1)} (pid {match.group(2)})"
    if out.strip():
        return "unknown process"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return "unknown process"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tail(path: Path, lines: int = 25) -> str:
    if not path.is_file():
        return f"(no log at {path})"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        data = handle.read().decode(errors="replace").splitlines()
    return "\n".join(data[-lines:])


def _http_json(url: str, timeout: float = 3.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - localhost only
        return json.loads(resp.read().decode())


@dataclass
class Service:
    name: str
    main_class: str
    ports: list[int]
    log_name: str
    ready: Callable[[], bool]
    ready_what: str
    profile: str
    prepare: Callable[[], None]
    heap: str = "512m"
    sysprops: dict[str, str] = field(default_factory=dict)
    extra_cp: list[Path] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    # for other profiles (include/stack/cluster.py): their own folder for run/ and logs/, a ready-made
    # classpath instead of .stack/jars/<profile>, and extra environment variables
    home: Path | None = None
    classpath: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.home or stack_dir()

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.root / "logs" / self.log_name

    @property
    def out(self) -> Path:
        return self.root / "logs" / f"{self.name}.out"

    def pid(self) -> int | None:
        """The PID from our PID file, if that process is alive and still the one we started."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _pid_alive(pid) and self.main_class in _cmdline(pid) and f"-Dstack.dir={self.root} " in _cmdline(pid):
            return pid
        return None

    def command(self) -> list[str]:
        props = [f"-D{k}={v}" for k, v in self.sysprops.items()]
        return [
            java_bin(),
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            *JAVA17_OPENS,
            *props,
            # a marker so that pid() recognises our own process and nobody else's
            f"-Dstack.dir={self.root}",
            "-cp",
            self.classpath or _classpath(self.profile, *self.extra_cp),
            self.main_class,
            *self.args,
        ]

    def start(self) -> str:
        if self.pid():
            return f"{self.name}: already up (pid {self.pid()})"
        for port in self.ports:
            owner = port_owner(port)
            if owner:
                raise StackError(
                    f"{self.name}: port {port} is already taken by {owner}; stop it or free the port, then 'make up'"
                )
        self.prepare()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.out.open("ab") as out:
            proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"{self.name} exited with code {proc.returncode} while starting. Last lines of {self.log}:\n"
                    f"{tail(self.log)}\n--- {self.out}:\n{tail(self.out, 10)}"
                )
            if self._ready_now():
                return f"{self.name}: up (pid {proc.pid}, {self.ready_what})"
            time.sleep(0.5)
        raise StackError(
            f"{self.name} did not become ready ({self.ready_what}) within {START_DEADLINE_S}s; "
            f"it is still running as pid {proc.pid}. Last lines of {self.log}:\n{tail(self.log)}"
        )

    def _ready_now(self) -> bool:
        try:
            return bool(self.ready())
        except Exception:  # noqa: BLE001 - not ready, whatever the reason (refused, timeout, bad answer)
            return False

    def stop(self) -> str:
        pid = self.pid()
        if not pid:
            self.pid_file.unlink(missing_ok=True)
            return f"{self.name}: not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_DEADLINE_S
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.3)
        how = "stopped"
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            how = f"killed after {STOP_DEADLINE_S}s"
            while _pid_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: {how} (pid {pid})"

    def status(self) -> dict:
        pid = self.pid()
        ready = bool(pid) and self._ready_now()
        return {
            "service": self.name,
            "state": "up" if pid and ready else ("starting/unhealthy" if pid else "down"),
            "pid": pid or "-",
            "ports": ",".join(str(p) for p in self.ports),
            "log": str(self.log),
        }


# --------------------------------------------------------------------------------------------- kafka


def kafka_metadata_ok() -> bool:
    """True when the broker answers a metadata request (ApiVersions, then Metadata v1) on the Kafka port."""
    return kafka_answers("localhost", KAFKA_PORT, timeout=2.0)


def kafka_answers(host: str, port: int, timeout: float) -> bool:
    """Speak just enough of the Kafka protocol to see a broker answer a Metadata request for no topics."""
    # Metadata v1 request: api_key=3, api_version=1, correlation_id, client_id, topics=[] (empty array)
    client = b"stack-health"
    body = (
        (3).to_bytes(2, "big")
        + (1).to_bytes(2, "big")
        + (42).to_bytes(4, "big", signed=True)
        + len(client).to_bytes(2, "big")
        + client
        + (0).to_bytes(4, "big", signed=True)
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(len(body).to_bytes(4, "big") + body)
        size = int.from_bytes(_recv_exact(sock, 4), "big")
        payload = _recv_exact(sock, size)
    correlation = int.from_bytes(payload[:4], "big", signed=True)
    broker_count = int.from_bytes(payload[4:8], "big", signed=True)
    return correlation == 42 and broker_count >= 1


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def new_kafka_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def format_kafka_storage(name: str, config: Path, data: Path, cluster_id: str, *extra: str) -> None:
    """kafka-storage format: a KRaft node's log directory ``data`` (named in ``config``), once."""
    if (data / "meta.properties").is_file():
        return
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        java_bin(),
        f"-Dlog4j2.configurationFile={CONF_SRC / 'tools-log4j2.properties'}",
        "-cp",
        _classpath("kafka"),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(config),
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StackError(f"formatting {name}'s storage in {data} failed:\n{proc.stdout}{proc.stderr}")
    print(f"{name}: formatted storage in {data} (cluster id {cluster_id})")


def _format_kafka() -> None:
    write_configs()
    data = stack_dir() / "data" / "kafka"
    config = stack_dir() / "conf" / "kafka" / "server.properties"
    format_kafka_storage("kafka", config, data, new_kafka_cluster_id(), "--standalone")


# ---------------------------------------------------------------------------------------------- hdfs


def _namenode_info() -> dict:
    url = f"http://localhost:{NAMENODE_HTTP_PORT}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
    beans = _http_json(url)["beans"]
    return beans[0] if beans else {}


def webhdfs_ok() -> bool:
    url = f"http://localhost:{NAMENODE_HTTP_PORT}/webhdfs/v1/?op=LISTSTATUS&user.name={hdfs_user()}"
    return "FileStatuses" in _http_json(url)


def datanode_live_and_writable() -> bool:
    """The DataNode itself says it is registered and heartbeating, and the NameNode is out of safe mode.

    (The NameNode alone is not enough: after a kill -9 it lists the dead DataNode as live for minutes.)
    """
    url = f"http://localhost:{DATANODE_HTTP_PORT}/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo"
    beans = _http_json(url)["beans"]
    actors = json.loads(beans[0].get("BPServiceActorInfo") or "[]") if beans else []
    if not any(a.get("ActorState") == "RUNNING" and a.get("LastHeartbeat") not in (None, "") for a in actors):
        return False
    info = _namenode_info()
    live = json.loads(info.get("LiveNodes") or "{}")
    return any(key.endswith(f":{DATANODE_PORT}") for key in live) and info.get("Safemode", "x") == ""


def _format_namenode() -> None:
    write_configs()
    name_dir = stack_dir() / "data" / "hdfs" / "name"
    if (name_dir / "current" / "VERSION").is_file():
        return
    logs_dir().mkdir(parents=True, exist_ok=True)
    cmd = [
        java_bin(),
        *JAVA17_OPENS,
        f"-Dhadoop.log.file={logs_dir() / 'namenode-format.log'}",
        "-cp",
        _classpath("hdfs", hadoop_conf_dir()),
        "org.apache.hadoop.hdfs.server.namenode.NameNode",
        "-format",
        "-nonInteractive",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StackError(
            f"formatting the NameNode in {name_dir} failed; see {logs_dir() / 'namenode-format.log'}:\n"
            f"{tail(logs_dir() / 'namenode-format.log')}"
        )
    print(f"hdfs: formatted NameNode storage in {name_dir}")


def services() -> list[Service]:
    """The stack, in start order."""

    def hadoop_props(log: str) -> dict[str, str]:
        return {"hadoop.log.file": str(logs_dir() / log), "hadoop.home.dir": str(stack_dir())}

    return [
        Service(
            name="kafka",
            main_class="kafka.Kafka",
            profile="kafka",
            ports=[KAFKA_PORT, KAFKA_CONTROLLER_PORT, *([KAFKA_SECURE_PORT] if kafka_secure() else [])],
            log_name="kafka.log",
            ready=kafka_metadata_ok,
            ready_what=f"broker answers metadata on localhost:{KAFKA_PORT}",
            prepare=_format_kafka,
            heap="1g",
            sysprops={
                "kafka.logs.dir": str(logs_dir()),
                "log4j2.configurationFile": str(CONF_SRC / "kafka-log4j2.properties"),
            },
            args=[str(stack_dir() / "conf" / "kafka" / "server.properties")],
        ),
        Service(
            name="namenode",
            main_class="org.apache.hadoop.hdfs.server.namenode.NameNode",
            profile="hdfs",
            ports=[NAMENODE_RPC_PORT, NAMENODE_HTTP_PORT],
            log_name="namenode.log",
            ready=webhdfs_ok,
            ready_what=f"WebHDFS LISTSTATUS / answers on localhost:{NAMENODE_HTTP_PORT}",
            prepare=_format_namenode,
            sysprops=hadoop_props("namenode.log"),
            extra_cp=[hadoop_conf_dir()],
        ),
        Service(
            name="datanode",
            main_class="org.apache.hadoop.hdfs.server.datanode.DataNode",
            profile="hdfs",
            ports=[DATANODE_PORT, DATANODE_HTTP_PORT, DATANODE_IPC_PORT],
            log_name="datanode.log",
            ready=datanode_live_and_writable,
            ready_what="registered with the NameNode, safe mode off",
            prepare=write_configs,
            sysprops=hadoop_props("datanode.log"),
            extra_cp=[hadoop_conf_dir()],
        ),
    ]


def select(names: list[str] | None) -> list[Service]:
    alias = {"hdfs": ["namenode", "datanode"]}
    wanted: list[str] = []
    for name in names or []:
        wanted += alias.get(name, [name])
    known = {s.name for s in services()}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise StackError(f"unknown service(s) {unknown}; known: {sorted(known)} or 'hdfs'")
    return [s for s in services() if not wanted or s.name in wanted]


def up(names: list[str] | None = None) -> None:
    java_bin()
    if not jars_ready():
        resolve_jars()
    for svc in select(names):
        print(svc.start(), flush=True)
        if svc.name == "kafka" and kafka_secure():
            ensure_kafka_security()


def ensure_kafka_security() -> None:
    """SCRAM users and default ACLs on the running broker (idempotent: also upgrades a broker whose storage
    was formatted before the secure listener existed)."""
    if port_owner(KAFKA_SECURE_PORT) is None:
        print(
            f"kafka: WARNING: the running broker has no SASL_SSL listener on localhost:{KAFKA_SECURE_PORT} "
            "(started with SECURE=0 or before it existed); restart it to get one: "
            "python -m include.stack down kafka && make up",
            flush=True,
        )
        return
    try:
        from include import kafka_acl
    except ImportError as exc:  # outside the venv
        raise StackError(f"can't set up Kafka users and ACLs without the venv ({exc}): run 'make up'") from exc
    try:
        kafka_acl.setup(f"localhost:{KAFKA_PORT}")
    except RuntimeError as exc:
        raise StackError(f"kafka: creating SCRAM users and ACLs failed: {exc}") from exc
    print(f"kafka: SASL_SSL on localhost:{KAFKA_SECURE_PORT}; users admin, writer, reader and ACLs in place")


def down(names: list[str] | None = None) -> None:
    for svc in reversed(select(names)):
        print(svc.stop(), flush=True)


def status(names: list[str] | None = None) -> bool:
    rows = [svc.status() for svc in select(names)]
    cols = ["service", "state", "pid", "ports", "log"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in cols))
    return all(r["state"] == "up" for r in rows)


def reset() -> None:
    down()
    for sub in ("data", "conf", "logs", "run"):
        shutil.rmtree(stack_dir() / sub, ignore_errors=True)
    print(f"reset: removed data, logs and generated config under {stack_dir()} (jars kept)")


def kafka_tool(tool: str, args: list[str]) -> int:
    """Run one of Kafka's own CLI tools (kafka-topics, kafka-console-consumer, ...) from the broker's jars."""
    if tool not in KAFKA_TOOLS:
        raise StackError(f"unknown Kafka tool {tool!r}; known: {', '.join(sorted(KAFKA_TOOLS))}")
    cmd = [
        java_bin(),
        "-Xmx512m",
        f"-Dlog4j2.configurationFile={CONF_SRC / 'tools-log4j2.properties'}",
        "-cp",
        _classpath("kafka"),
        KAFKA_TOOLS[tool],
        *args,
    ]
    return subprocess.call(cmd)


def hdfs_dfs(args: list[str]) -> int:
    """`hadoop fs ...` against the local HDFS, from the HDFS jars."""
    write_configs()
    cmd = [
        java_bin(),
        "-Xmx256m",
        *JAVA17_OPENS,
        "-Dhadoop.root.logger=WARN,console",
        f"-Dlog4j.configuration=file:{CONF_SRC / 'hadoop-cli-log4j.properties'}",
        "-cp",
        _classpath("hdfs", hadoop_conf_dir()),
        "org.apache.hadoop.fs.FsShell",
        *args,
    ]
    return subprocess.call(cmd)


class UsageError(Exception):
    """A verb given the wrong arguments: the CLI prints its usage and exits with 2."""


def dispatch(argv: list[str] | None, usage: str, verbs: dict[str, Callable[[list[str]], int | None]]) -> int:
    """A stack's command line: ``verbs[argv[0]](argv[1:])``; its int result is the exit code (None: 0). An
    unknown verb or a UsageError prints ``usage`` (exit 2); a StackError prints its message (exit 1)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] not in verbs:
            raise UsageError
        result = verbs[argv[0]](argv[1:])
    except UsageError:
        print(usage, file=sys.stderr)
        return 2
    except StackError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0 if result is None else result


def lifecycle_verbs(
    up: Callable[[list[str]], None],
    down: Callable[[list[str]], None],
    status: Callable[[list[str]], bool],
    reset: Callable[[], None],
) -> dict[str, Callable[[list[str]], int | None]]:
    """The verbs every profile's CLI has: up, down, status (exit 3 when a service is down) and reset."""
    return {"up": up, "down": down, "status": lambda rest: 0 if status(rest) else 3, "reset": lambda rest: reset()}


def _kafka_tool_verb(rest: list[str]) -> int:
    if not rest:
        raise UsageError
    return kafka_tool(rest[0], rest[1:])


def main(argv: list[str] | None = None) -> int:
    usage = (
        "usage: python -m include.stack {up|down|status|reset|jars} [service ...]\n"
        "       python -m include.stack kafka <tool> [args ...]   (tools: " + ", ".join(sorted(KAFKA_TOOLS)) + ")\n"
        "       python -m include.stack hdfs-dfs [args ...]         (hadoop fs ...)"
    )
    return dispatch(
        argv,
        usage,
        {
            **lifecycle_verbs(up, down, status, reset),
            "jars": lambda rest: resolve_jars(force="--force" in rest),
            "kafka": _kafka_tool_verb,
            "hdfs-dfs": hdfs_dfs,
        },
    )
