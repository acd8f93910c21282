"""One engine for any profile of devstack/nodes.py: config rendering, storage formatting, health waits with
deadlines and clear errors are the project's; starting, PID tracking, graceful-then-forced stop and the
services' stdout logs are supervisord's (devstack/supervisor.py).

Each profile has its own supervisord (``<profile home>/supervisord.conf``, rendered here from the node specs).
Every node is a program the engine starts in order, waiting for the node's health check with a deadline before
the next; a node that dies stays dead (a fault test kills one on purpose) until ``up`` starts it again. The
profile's supervisord shuts down with its last node (``down``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from string import Template

from devstack import nodes as specs
from devstack import secure
from devstack.nodes import CONF_SRC, JAVA17_OPENS, Check, Node, Profile, stack_dir
from devstack.supervisor import DEAD, Supervisor, tail

POM = Path(__file__).resolve().parent / "pom.xml"
JAR_SETS = ("kafka", "hdfs", "spark-kafka", "yarn")
NODE_START_DEADLINE_S = 90
WHOLE_DEADLINE_S = 120
STOP_DEADLINE_S = 30  # supervisord's stopwaitsecs: SIGTERM, then SIGKILL to the node's process group
OFF_ON_DEMAND = "off (on demand)"  # `status` of an on-demand node nobody asked for

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


# ---------------------------------------------------------------------------------------- jars and java


def jars_dir(jar_set: str) -> Path:
    return stack_dir() / "jars" / jar_set


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready() -> bool:
    stamp = stack_dir() / "jars" / ".pom.sha256"
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest()


def resolve_jars(force: bool = False) -> None:
    """Copy each jar set (with transitive dependencies) from Maven into .stack/jars/<set>/."""
    if jars_ready() and not force:
        print(f"jars: up to date in {stack_dir() / 'jars'}")
        return
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (mvn) not found on PATH - install it (apt-get install maven) and run 'make setup'")
    for jar_set in JAR_SETS:
        out = jars_dir(jar_set)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        print(f"jars: resolving profile {jar_set} with Maven ...", flush=True)
        cmd = [mvn, "-q", "-B", "-f", str(POM), "-P", jar_set, "dependency:copy-dependencies"]
        cmd += [f"-DoutputDirectory={out}", "-DincludeScope=runtime"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(f"Maven could not resolve profile {jar_set}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    (stack_dir() / "jars" / ".pom.sha256").write_text(_pom_digest() + "\n")
    print("jars: done")


def classpath(jar_set: str, *first: Path) -> str:
    if jar_set == "spark":
        home = specs.spark_home()
        if not (home / "jars").is_dir():
            raise StackError("pyspark is not installed - run 'make setup' (it installs it into .venv)")
        return os.pathsep.join([*(str(p) for p in first), str(home / "conf"), str(home / "jars" / "*")])
    folder = jars_dir(jar_set)
    if not any(folder.glob("*.jar")):
        raise StackError(f"no jars in {folder} - run 'make setup'")
    return os.pathsep.join([*(str(p) for p in first), str(folder / "*")])


def java_bin() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise StackError("Java not found: install a JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME")
    return java


def command(node: Node) -> list[str]:
    return [
        java_bin(),
        f"-Xmx{node.heap}",
        "-XX:+UseG1GC",
        *JAVA17_OPENS,
        *(f"-D{k}={v}" for k, v in node.sysprops.items()),
        "-cp",
        classpath(node.jars, *node.conf_dirs),
        node.main_class,
        *node.args,
    ]


# ------------------------------------------------------------------------------------------ small tools


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


def probe(check: Check) -> bool:
    try:
        return bool(check.probe())
    except Exception:  # noqa: BLE001 - not healthy, whatever the reason (refused, timeout, bad answer)
        return False


def wait_until(check: Check, deadline_s: float, on_tick: Callable[[], None] | None = None) -> bool:
    """Poll ``check`` until it holds (True) or ``deadline_s`` passes (False); ``on_tick`` may raise to give up."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if on_tick:
            on_tick()
        if probe(check):
            return True
        time.sleep(0.5)
    return False


def render(config: specs.Config) -> None:
    text = (CONF_SRC / config.template).read_text()
    if config.values:  # a template; without values, a file copied as it is (log4j's own ${...} stay)
        text = Template(text).substitute({k: str(v) for k, v in config.values.items()})
    config.dest.parent.mkdir(parents=True, exist_ok=True)
    if config.private:
        secure.write_private(config.dest, text)
    else:
        config.dest.write_text(text)


# ----------------------------------------------------------------------------------------------- the stack


class Stack:
    """A profile's nodes under its supervisord."""

    def __init__(self, profile: Profile | str | None = None) -> None:
        self.profile = profile if isinstance(profile, Profile) else specs.profile(profile)
        self.supervisor = Supervisor(self.profile.home, f"devstack-{self.profile.name}", self.profile.logs_dir)

    def out_log(self, node: Node) -> Path:
        """The node's stdout and stderr, as supervisord keeps them."""
        return self.profile.logs_dir / f"{node.name}.out"

    def pid(self, name: str) -> int | None:
        """The PID of a running node (what a fault test kills), or None."""
        self.profile.node(name)
        return self.supervisor.program_pid(name)

    # -- configs and storage

    def render_configs(self) -> None:
        """Every node's config files and spark-submit's defaults, from the templates in devstack/conf/."""
        for node in self.profile.nodes:
            for config in node.configs:
                render(config)
            if node.secure_port:
                self._secure_overlay(node)
        self.render_spark_defaults()

    def render_supervisor(self) -> None:
        """supervisord.conf: one program per node (the engine starts them; see the module docstring)."""
        programs = {
            node.name: Supervisor.program(
                command(node), self.out_log(node), self.profile.home, STOP_DEADLINE_S, env=node.env
            )
            for node in self.profile.nodes
        }
        self.supervisor.render(programs)

    def _secure_overlay(self, node: Node) -> None:
        """The SASL_SSL and mTLS listeners and the authorizer, appended to the broker's config (0600: it holds the
        keystore's password)."""
        try:
            data = secure.ensure_all(stack_dir())
        except secure.SecureSetupError as exc:
            raise StackError(str(exc)) from exc
        properties = node.configs[0].dest
        values = node.configs[0].values
        overlay = Template((CONF_SRC / "kafka-server-secure.properties").read_text()).substitute(
            kafka_port=values["kafka_port"],
            secure_port=node.secure_port,
            mtls_port=node.mtls_port,
            controller_port=values["controller_port"],
            keystore=secure.broker_keystore(stack_dir()),
            ca_pem=secure.ca_pem(stack_dir()),
            keystore_password=data["keystore_password"],
            super_users="User:ANONYMOUS;User:admin",
        )
        secure.write_private(properties, properties.read_text() + "\n" + overlay)

    def render_spark_defaults(self) -> None:
        """spark-submit's defaults for this profile (the cluster's executor sizes), as a gateway machine has them."""
        if self.profile.spark_defaults is not None:
            render(self.profile.spark_defaults)

    def _cluster_id(self) -> str:
        """One Kafka cluster id per profile, kept next to its data so that a node formatted later joins."""
        path = self.profile.data_dir / "kafka-cluster-id"
        if path.is_file():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        path.write_text(cluster_id + "\n")
        return cluster_id

    def format_storage(self, node: Node) -> None:
        step = node.format
        if step is None or step.done.is_file():
            return
        args = [a.replace("{cluster_id}", self._cluster_id()) for a in step.args]
        props = [f"-Dhadoop.log.file={step.log}"] if step.log else []
        if node.jars == "kafka":
            props.append(f"-Dlog4j2.configurationFile={CONF_SRC / 'tools-log4j2.properties'}")
        self.profile.logs_dir.mkdir(parents=True, exist_ok=True)
        cmd = [java_bin(), *JAVA17_OPENS, *props, "-cp", classpath(node.jars, *node.conf_dirs), step.main_class, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            detail = f"see {step.log}:\n{tail(step.log)}" if step.log else f"\n{proc.stdout}{proc.stderr}"
            raise StackError(f"formatting {node.name}'s storage failed (exit code {proc.returncode}); {detail}")
        print(f"{node.name}: formatted storage ({step.done.parent})", flush=True)

    # -- verbs

    def up(self, names: list[str] | None = None) -> None:
        java_bin()
        if not jars_ready():
            resolve_jars()
        chosen = self._select(names)
        running = self.supervisor.running()
        to_start = [n for n in chosen if not (running and self.pid(n.name))]
        for node in to_start:
            for port in node.ports:
                if owner := port_owner(port):
                    raise StackError(
                        f"{node.name}: port {port} is already taken by {owner}; stop it or free the port, "
                        "then 'make up'"
                    )
        self.render_configs()
        self.render_supervisor()
        self.supervisor.ensure()
        try:
            for node in chosen:
                if node in to_start:
                    self._start(node)
                else:
                    print(f"{node.name}: already up (pid {self.pid(node.name)})", flush=True)
                if node.secure_port:
                    ensure_kafka_security(node)
            self._wait_whole(chosen)
        finally:
            if not any(self.pid(n.name) for n in self.profile.nodes):
                self.supervisor.shutdown()

    def _start(self, node: Node) -> None:
        self.format_storage(node)
        node.log.parent.mkdir(parents=True, exist_ok=True)
        self.supervisor.start(node.name)

        def still_alive() -> None:
            info = self.supervisor.info(node.name)
            if info.get("statename") in DEAD or not info:
                time.sleep(0.5)  # supervisord may still be writing the node's last output to its log
                code = info.get("exitstatus")
                # a JVM that ran and failed says it with its exit code; a spawn failure only in spawnerr
                reason = f"exited with code {code}" if code else (info.get("spawnerr") or f"exited with code {code}")
                raise StackError(
                    f"{node.name} {reason} while starting. Last lines of {node.log}:\n{tail(node.log)}\n"
                    f"--- {self.out_log(node)}:\n{tail(self.out_log(node), 10)}"
                )

        if not wait_until(node.ready, NODE_START_DEADLINE_S, on_tick=still_alive):
            raise StackError(
                f"{node.name} did not become ready ({node.ready.what}) within {NODE_START_DEADLINE_S}s; it is "
                f"still running as pid {self.pid(node.name)}. Last lines of {node.log}:\n{tail(node.log)}"
            )
        print(f"{node.name}: up (pid {self.pid(node.name)}, {node.ready.what})", flush=True)

    def _wait_whole(self, started: list[Node]) -> None:
        names = {n.name for n in started}
        for group, check in self.profile.whole.items():
            if not names & set(self.profile.groups[group]):
                continue
            if not wait_until(check, WHOLE_DEADLINE_S):
                logs = "".join(
                    f"\n--- last lines of {n.log}:\n{tail(n.log, 15)}" for n in self.profile.select([group])[:2]
                )
                raise StackError(f"{group} did not become healthy within {WHOLE_DEADLINE_S}s: {check.what}{logs}")
            print(f"{group}: {check.what}", flush=True)

    def down(self, names: list[str] | None = None) -> None:
        if not self.supervisor.pid():
            for node in reversed(self._select(names, every=True)):
                print(f"{node.name}: not running", flush=True)
            return
        waves: list[list[Node]] = []
        for node in reversed(self._select(names, every=True)):
            if waves and node.stop_group and waves[-1][0].stop_group == node.stop_group:
                waves[-1].append(node)
            else:
                waves.append([node])
        for wave in waves:
            for name, how in self.supervisor.stop([n.name for n in wave], STOP_DEADLINE_S + 15).items():
                print(f"{name}: {how}", flush=True)
        if not any(self.pid(n.name) for n in self.profile.nodes):
            self.supervisor.shutdown()

    def restart(self, name: str) -> None:
        """A controlled restart of one node (graceful stop, start), then wait until its group is whole again: for a
        Kafka node, until it is back in every partition's ISR. One node after the other is a rolling restart."""
        node = self.profile.node(name)
        for line in self.supervisor.stop([name], STOP_DEADLINE_S + 15).items():
            print(f"{line[0]}: {line[1]}", flush=True)
        self.up([node.name])

    def status(self, names: list[str] | None = None) -> bool:
        rows = []
        for node in self._select(names, every=True):
            pid = self.pid(node.name)
            healthy = bool(pid) and probe(node.ready)
            state = "up" if healthy else ("starting/unhealthy" if pid else "down")
            if state == "down" and node.on_demand and not names:
                state = OFF_ON_DEMAND  # not started unless asked for: not a fault
            rows.append([node.name, state, str(pid or "-"), ",".join(map(str, node.ports)), str(node.log)])
        cols = ["SERVICE", "STATE", "PID", "PORTS", "LOG"]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        for row in [cols, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        print("")
        for line in self.profile.addresses:
            print(line)
        print(f"Data, logs, PIDs  {self.profile.home} (supervisord: {self.supervisor.conf})")
        return all(r[1] in ("up", OFF_ON_DEMAND) for r in rows)

    def reset(self) -> None:
        self.down()
        if self.profile.name == "single":
            for sub in ("data", "conf", "logs", "run"):
                shutil.rmtree(self.profile.home / sub, ignore_errors=True)
            (self.profile.home / "supervisord.conf").unlink(missing_ok=True)
            print(f"reset: removed data, logs and generated config under {self.profile.home} (jars kept)")
        else:
            shutil.rmtree(self.profile.home, ignore_errors=True)
            print(f"reset: removed {self.profile.home} (data, logs, config of the {self.profile.name} profile)")

    def _select(self, names: list[str] | None, every: bool = False) -> list[Node]:
        try:
            return self.profile.select(names, every)
        except ValueError as exc:
            raise StackError(str(exc)) from None

    # -- tools against this profile

    def hdfs_dfs(self, args: list[str]) -> int:
        """`hadoop fs ...` against this profile's HDFS, from the HDFS jars."""
        self.render_configs()
        conf = self.profile.hadoop_client_conf
        cmd = [
            java_bin(),
            "-Xmx256m",
            *JAVA17_OPENS,
            "-Dhadoop.root.logger=WARN,console",
            f"-Dlog4j.configuration=file:{CONF_SRC / 'hadoop-cli-log4j.properties'}",
            "-cp",
            classpath("hdfs", *([conf] if conf else [])),
            "org.apache.hadoop.fs.FsShell",
            *args,
        ]
        return subprocess.call(cmd)


def kafka_tool(tool: str, args: list[str]) -> int:
    """Run one of Kafka's own CLI tools (kafka-topics, kafka-console-consumer, ...) from the broker's jars."""
    if tool not in KAFKA_TOOLS:
        raise StackError(f"unknown Kafka tool {tool!r}; known: {', '.join(sorted(KAFKA_TOOLS))}")
    cmd = [
        java_bin(),
        "-Xmx512m",
        f"-Dlog4j2.configurationFile={CONF_SRC / 'tools-log4j2.properties'}",
        "-cp",
        classpath("kafka"),
        KAFKA_TOOLS[tool],
        *args,
    ]
    return subprocess.call(cmd)


def ensure_kafka_security(node: Node) -> None:
    """SCRAM users and default ACLs on the running broker (idempotent: also upgrades a broker whose storage was
    formatted before the secure listener existed)."""
    plaintext = node.configs[0].values["kafka_port"]
    if port_owner(node.secure_port) is None or (node.mtls_port and port_owner(node.mtls_port) is None):
        print(
            f"{node.name}: WARNING: the running broker has no SASL_SSL listener on localhost:{node.secure_port} "
            f"or no mTLS listener on localhost:{node.mtls_port} "
            "(started with SECURE=0 or before it existed); restart it to get one: "
            f"python -m devstack down {node.name} && make up",
            flush=True,
        )
        return
    try:
        from devstack import acl
    except ImportError as exc:  # outside the venv
        raise StackError(f"can't set up Kafka users and ACLs without the venv ({exc}): run 'make up'") from exc
    try:
        acl.setup(f"localhost:{plaintext}")
    except RuntimeError as exc:
        raise StackError(f"{node.name}: creating SCRAM users and ACLs failed: {exc}") from exc
    print(
        f"{node.name}: SASL_SSL on localhost:{node.secure_port}, mTLS on localhost:{node.mtls_port}; users admin, "
        "writer, reader, writer-mtls (client certificate) and ACLs in place"
    )
