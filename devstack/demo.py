"""`make demo`: the tutorial end to end, on the local stack, with proof at each step.

1. write_to_kafka with its defaults: include/data/players.csv -> HDFS testdir/ -> Spark -> kafka-new-topic.
2. What arrived in the topic, read by Kafka's own console consumer (as the tutorial's consumer terminal).
3. read_from_kafka with the tutorial's three messages: the topic -> Spark -> console + Parquet archive.
4. The archive's rows, read back from HDFS.

A CLI for a person: it prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.nodes import port
from include.config import DEFAULT_TOPIC

TUTORIAL_MESSAGES = ["New Kafka message", "Another message", "One more"]
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def banner(text: str) -> None:
    print(f"\n\033[1m=== {text}\033[0m", flush=True)


def run_dag(dag_id: str, conf: dict) -> None:
    banner(f"airflow dags test {dag_id} --conf '{json.dumps(conf)}'")
    log_dir = Path(os.environ.get("AIRFLOW_HOME", ".airflow")) / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{dag_id}.log"
    with log.open("w") as out:
        proc = subprocess.run([AIRFLOW, "dags", "test", dag_id, "--conf", json.dumps(conf)], stdout=out, stderr=out)
    lines = log.read_text().splitlines()
    for line in lines:
        if any(k in line for k in ("DagRun Finished", "verification:", "holds all", "done: files=", "topic ")):
            print("  " + line[:240])
    if proc.returncode != 0:
        print("\n".join(lines[-60:]))
        sys.exit(f"{dag_id} failed - full log: {log}")
    print(f"  {dag_id}: success (full log: {log})")


def main() -> None:
    kafka_port = port("KAFKA_PORT", 9092)
    run_dag("write_to_kafka", {})
    banner(f"kafka-console-consumer --topic {DEFAULT_TOPIC} --from-beginning (key -> value)")
    consumer = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "kafka",
            "kafka-console-consumer",
            "--bootstrap-server",
            f"localhost:{kafka_port}",
            "--topic",
            DEFAULT_TOPIC,
            "--from-beginning",
            "--timeout-ms",
            "5000",
            "--property",
            "print.key=true",
            "--property",
            "key.separator= -> ",
        ],
        check=False,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the console consumer ends on its idle timeout, which it reports as an error: show only its count
    print("\n".join(line for line in consumer.stderr.splitlines() if "Processed a total" in line))
    run_dag("read_from_kafka", {"messages": TUTORIAL_MESSAGES})
    banner("the Parquet archive on HDFS (partition, offset, key, value)")
    from include.connections import hdfs_settings
    from include.hdfs import archive, client

    settings = hdfs_settings()
    output_dir = f"/user/{settings.user}/{DEFAULT_TOPIC}-archive"
    files = archive.all_files(client.client(settings), output_dir)
    rows = list(archive.rows_in_order(client.file_system(settings), files))
    for row in rows:
        key, value = (None if b is None else b.decode("utf-8", "replace") for b in (row.key, row.value))
        print(f"  {row.partition:>3} {row.offset:>6}  {key!s:<22} {value}")
    print(f"\n{len(rows)} rows in {settings.hdfs_uri}{output_dir} - each message of {DEFAULT_TOPIC} exactly once.")
