"""write_to_kafka's steps without Airflow: the baseline of the orchestration-overhead figure.

The very step functions the DAG's tasks call (include/pipeline/write.py), in the same order, in one plain
Python process (no Airflow import): plan (validate_params), create_topics, ingest, record_offsets,
submit_write_job (the very spark-submit command the DAG's operator builds, given by the caller) and verify +
check (what verify_messages runs). Reads its spec as JSON on stdin; prints ``BENCH_RESULT {...}`` with the
seconds of each step; exits non-zero when a step fails.

    python -m bench.bare_write < spec.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    spec = json.load(sys.stdin)
    started = time.monotonic()
    steps: dict[str, float] = {}

    def step(name: str, began: float) -> None:
        steps[name] = round(time.monotonic() - began, 3)

    from include.connections import Connections, HdfsSettings, KafkaSettings
    from include.pipeline import write

    t = time.monotonic()
    connections = Connections(KafkaSettings(config=spec["kafka_config"]), HdfsSettings.from_dict(spec["hdfs"]))
    plan = write.plan(spec["params"], connections)
    if plan.spark_args != spec["command"][-len(plan.spark_args) :]:
        raise SystemExit("the spark-submit command given does not end with this plan's job arguments")
    step("validate_params", t)

    t = time.monotonic()
    write.create_topics(plan, connections)
    step("create_topic", t)

    t = time.monotonic()
    ingested = write.ingest(plan, connections)
    step("ingest_players_csv", t)

    t = time.monotonic()
    recorded = write.record_offsets(plan, connections, ingested)
    step("record_offsets", t)

    t = time.monotonic()
    env = {**os.environ, "HADOOP_USER_NAME": plan.hdfs_user}
    with open(spec["log"], "w") as log:
        code = subprocess.call(spec["command"], stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise SystemExit(f"spark-submit failed with exit code {code}; log: {spec['log']}")
    step("submit_write_job", t)

    t = time.monotonic()
    report = write.verify(plan, recorded, connections, timeout_s=300)
    write.check(plan, {**report.summary(), "complete": report.complete})
    step("verify_messages", t)

    total = round(time.monotonic() - started, 3)
    print("BENCH_RESULT " + json.dumps({"seconds": total, "steps": steps}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
