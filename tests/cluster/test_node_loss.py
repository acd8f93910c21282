"""The DAGs, unchanged, on real multi-node engines (3 Kafka brokers, 2 DataNodes, Spark standalone with 2
workers), and the loss of a node that they survive. Real processes, real `kill -9` by PID, an independent
consumer (plain confluent-kafka) and Spark's own Parquet reader to check; no mocks."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import psutil
import pytest
from hdfs.util import HdfsError

from devstack import health, nodes
from devstack.engine import Stack
from tests.support.airflow import BackgroundDagRun, verification
from tests.support.cluster import (
    BOOTSTRAP,
    HDFS_URI,
    big_csv,
    busiest,
    high_watermarks,
    partition_leader,
    topic_config,
    wait_for,
)
from tests.support.kafka import consume_all, new_read_target
from tests.support.spark import spark_submit_jvms

CLUSTER = Stack("cluster")

pytestmark = pytest.mark.cluster


def reported_valid(output: str) -> int:
    """The rows the write job itself reported as written to the topic (its last successful attempt)."""
    found = re.findall(r"write_to_kafka done: files=\d+ rows in=\d+ valid=(\d+)", output)
    assert found, "the write job never reported what it wrote"
    return int(found[-1])


def test_leader_broker_killed_mid_write_loses_no_acknowledged_row(target, tmp_path):
    rows = 100_000
    players = big_csv(tmp_path / "big.csv", rows)
    bg = BackgroundDagRun("write_to_kafka", {"source_csv": str(tmp_path / "big.csv"), **target})
    leader = None
    try:
        wait_for(
            lambda: spark_submit_jvms(target["topic"]) and high_watermarks(target["topic"]).get(0, 0) > 0,
            "the write job to start writing",
            300,
            bg.running,
        )
        leader = partition_leader(target["topic"], 0)
        killed_at = high_watermarks(target["topic"]).get(0, 0)
        os.kill(CLUSTER.pid(f"kafka-{leader}"), signal.SIGKILL)
        result = bg.wait(900)
        new_leader = partition_leader(target["topic"], 0)
    finally:
        bg.kill()
    output = result.output
    print(
        f"killed broker {leader} (leader of partition 0) at offset {killed_at} of {rows}; the run ended "
        f"{result.seconds:.0f}s later; new leader {new_leader}"
    )
    assert killed_at < rows, "the broker died after the write: nothing was tested"
    assert new_leader != leader
    assert result.returncode == 0, output[-8000:]
    assert "--master spark://localhost:7077" in output and "Executor added" in output
    # the topic was created by create_topic with the cluster's defaults, and checked
    assert f"topic {target['topic']} created (1 partitions, RF 3, min.insync.replicas 2)" in output
    assert topic_config(target["topic"], "min.insync.replicas") == "2"

    arrived = consume_all(target["topic"], timeout_s=180, bootstrap=BOOTSTRAP)
    pairs = [(k.decode(), v.decode()) for k, v, _, _ in arrived]
    assert set(pairs) == set(players), "an acknowledged row was lost, or an unexpected one arrived"
    assert len(pairs) >= reported_valid(output) == rows
    checked = verification(output)
    assert checked["missing"] == 0 and checked["unexpected"] == 0
    print(f"{len(pairs)} messages arrived, {len(pairs) - rows} duplicates, retried: {'up_for_retry' in output}")


def _executors_of(worker_pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(worker_pid).children(recursive=True)
        if "CoarseGrainedExecutorBackend" in " ".join(child.cmdline())
    ]


def _job_executors_started() -> bool:
    return all(_executors_of(CLUSTER.pid(f"spark-worker-{n}")) for n in nodes.SPARK_WORKERS)


def test_spark_worker_killed_mid_job_the_job_completes_on_the_other(target, tmp_path):
    # the Kafka writes must last longer than the kill takes to follow the first record (~0.2 s); 150,000 rows
    # were all written within the second that choosing the node took, once the write path got faster
    rows = 600_000
    players = big_csv(tmp_path / "big.csv", rows)
    bg = BackgroundDagRun("write_to_kafka", {"source_csv": str(tmp_path / "big.csv"), **target})
    try:
        # the node is chosen while the job's executors read and parse the file, before anything is written
        wait_for(
            lambda: spark_submit_jvms(target["topic"]) and _job_executors_started(),
            "the write job's executors to start",
            300,
            bg.running,
        )
        workers = {f"spark-worker-{n}": CLUSTER.pid(f"spark-worker-{n}") for n in nodes.SPARK_WORKERS}
        running = {name: _executors_of(pid) for name, pid in workers.items()}
        name = busiest(running)
        worker_pid, executors = workers[name], running[name]
        wait_for(
            lambda: high_watermarks(target["topic"]).get(0, 0) > 0, "the write job to start writing", 300, bg.running
        )
        killed_at = high_watermarks(target["topic"]).get(0, 0)
        # the node is lost: its worker and the executor it runs
        for proc in [psutil.Process(worker_pid), *executors]:
            os.kill(proc.pid, signal.SIGKILL)
        survivor = next(f"spark-worker-{n}" for n in nodes.SPARK_WORKERS if f"spark-worker-{n}" != name)
        result = bg.wait(900)
    finally:
        bg.kill()
    output = result.output
    print(f"killed {name} (pid {worker_pid}) and executor(s) {[p.pid for p in executors]} after {killed_at} rows")
    assert killed_at < rows, "the worker died after the write: nothing was tested"
    assert result.returncode == 0, output[-8000:]
    assert CLUSTER.pid(survivor) is not None, "the other worker died too"
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"], 180, BOOTSTRAP)}
    assert arrived == set(players)
    assert verification(output)["missing"] == 0
    print(f"completed in {result.seconds:.0f}s; retried by Airflow: {'up_for_retry' in output}")


def test_datanode_killed_after_ingestion_the_file_is_still_readable_and_the_job_completes(target, hdfs, tmp_path):
    rows = 2_000
    source = tmp_path / "players.csv"
    players = big_csv(source, rows)
    bg = BackgroundDagRun("write_to_kafka", {"source_csv": str(source), **target})
    try:

        def ingested() -> list[str]:
            if hdfs.status(target["hdfs_dir"], strict=False) is None:
                return []
            return [n for n in hdfs.list(target["hdfs_dir"]) if not n.startswith(".")]

        wait_for(lambda: ingested(), "the CSV to be ingested into HDFS", 300, bg.running)
        path = f"{target['hdfs_dir']}/{ingested()[0]}"
        assert hdfs.status(path)["replication"] == 2
        os.kill(CLUSTER.pid("datanode-1"), signal.SIGKILL)
        killed = time.monotonic()
        # an HDFS (RPC) client at once: it finds the dead DataNode refusing and reads the other replica
        copy = tmp_path / "copy.csv"
        rc = CLUSTER.hdfs_dfs(["-copyToLocal", f"{HDFS_URI}{path}", str(copy)])
        assert rc == 0 and copy.read_bytes() == source.read_bytes(), "the file could not be read back whole"
        rpc_read = time.monotonic() - killed
        # WebHDFS (what Airflow's tasks use) redirects to a DataNode the NameNode picks: right after the kill it
        # may pick the dead one, until it counts it stale (5 s without a heartbeat, see the cluster hdfs-site.xml)
        webhdfs_read = None
        while webhdfs_read is None:
            try:
                with hdfs.read(path) as reader:
                    assert reader.read() == source.read_bytes()
                webhdfs_read = time.monotonic() - killed
            except (OSError, HdfsError):
                assert time.monotonic() - killed < 30, "WebHDFS still redirects to the dead DataNode after 30 s"
                time.sleep(1)
        result = bg.wait(900)
        live_at_end = health.live_datanodes(nodes.NAMENODE_HTTP_PORT)
    finally:
        bg.kill()
    output = result.output
    print(
        f"file read back whole {rpc_read:.1f}s after the kill (HDFS client), {webhdfs_read:.1f}s (WebHDFS); "
        f"live DataNodes at the end: {live_at_end}"
    )
    assert result.returncode == 0, output[-8000:]
    arrived = {(k.decode(), v.decode()) for k, v, _, _ in consume_all(target["topic"], 120, BOOTSTRAP)}
    assert arrived == set(players)
    assert verification(output)["missing"] == 0


def test_rolling_restart_of_every_broker_during_a_processing_time_read_is_invisible_and_exactly_once(
    unique, kafka_config, cleanup_topics, cleanup_hdfs, hdfs, spark
):
    from confluent_kafka import Producer

    topic = f"cluster-roll-{unique}"
    # 3 partitions, RF 3: every broker leads one
    output_dir, checkpoint = new_read_target(topic, kafka_config, 3, 3, cleanup_topics, cleanup_hdfs)
    producer = Producer({**kafka_config, "acks": "all", "enable.idempotence": True, "linger.ms": 20})
    sent = {"n": 0}
    stop = threading.Event()
    failures: list[str] = []

    def produce() -> None:
        while not stop.is_set():
            producer.produce(
                topic,
                value=f"message {sent['n']}".encode(),
                on_delivery=lambda err, _msg: err and failures.append(str(err)),
            )
            sent["n"] += 1
            producer.poll(0.01)
        producer.flush(120)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    conf = {
        "topic": topic,
        "output_dir": output_dir,
        "trigger": "processingTime",
        "interval_seconds": 2,
        "run_seconds": 210,  # the roll took 150-160 s here, on 2 cores shared with other work
    }
    bg = BackgroundDagRun("read_from_kafka", conf)
    rolled = []
    try:
        wait_for(
            lambda: hdfs.status(f"{checkpoint}/archive/commits/0", strict=False) is not None,
            "the read query to commit its first batch",
            300,
            bg.running,
        )
        for node in nodes.KAFKA_NODES:
            started = time.monotonic()
            CLUSTER.restart(f"kafka-{node}")  # graceful stop, start, wait until back in every ISR
            rolled.append((node, round(time.monotonic() - started)))
        assert bg.running(), f"the read job ended before the rolling restart did ({rolled}): raise run_seconds"
        stop.set()
        thread.join(150)
        result = bg.wait(900)
    finally:
        stop.set()
        bg.kill()
    output = result.output
    print(f"rolled {rolled} (node, seconds); produced {sent['n']}; run took {result.seconds:.0f}s")
    assert failures == [], f"the producer lost acknowledged-or-not writes: {failures[:3]}"
    assert result.returncode == 0, output[-8000:]
    assert "up_for_retry" not in output, "a task failed and was retried: an error the user would see"

    in_topic = {(p, o, v.decode()) for _, v, p, o in consume_all(topic, 180, BOOTSTRAP)}
    assert len(in_topic) == sent["n"]
    archive = spark.read.parquet(f"{HDFS_URI}{output_dir}").select("partition", "offset", "value").collect()
    archived = [(r.partition, r.offset, bytes(r.value).decode()) for r in archive]
    assert len(archived) == len(set(archived)), "a message is in the archive twice"
    assert set(archived) == in_topic, (
        f"{len(in_topic - set(archived))} message(s) missing from the archive, "
        f"{len(set(archived) - in_topic)} unexpected"
    )
