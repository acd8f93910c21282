"""write_to_kafka's steps without Airflow: the baseline of the orchestration-overhead figure.

The same functions the DAG's tasks call, in the same order, in one plain Python process (no Airflow import):
validate_params (plan_write), create_topic, ingest_players_csv, record_offsets, submit_write_job (the very
spark-submit command SparkSubmitOperator builds, given by the caller) and verify_messages (verify_write,
what the sensor's trigger runs). Reads its spec as JSON on stdin; prints ``BENCH_RESULT {...}`` with the
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

    from include import hdfs_files, kafka_topics, spark_metadata, verification
    from include.connections import HdfsSettings, KafkaSettings
    from include.run_plan import plan_write

    t = time.monotonic()
    kafka = KafkaSettings(config=spec["kafka_config"])
    hdfs_settings = HdfsSettings(**{**spec["hdfs"], "namenodes": tuple(spec["hdfs"]["namenodes"])})
    plan = plan_write(spec["params"], kafka, hdfs_settings)
    if plan["job_args"] != spec["command"][-len(plan["job_args"]) :]:
        raise SystemExit("the spark-submit command given does not end with this plan's job arguments")
    step("validate_params", t)

    t = time.monotonic()
    kafka_topics.check_broker(kafka.config)
    for name in (plan["topic"], plan["dlq_topic"]):
        kafka_topics.ensure_topic(kafka.config, name, plan["partitions"], plan["replication_factor"])
    step("create_topic", t)

    t = time.monotonic()
    source = hdfs_files.check_source_file(plan["source_csv"])
    hdfs = hdfs_files.client(hdfs_settings)
    hdfs_files.check_target_dir(hdfs, plan["hdfs_dir"])
    hdfs_files.ingest(hdfs, source, plan["hdfs_dir"])
    step("ingest_players_csv", t)

    t = time.monotonic()
    recorded = {
        "offsets": {x: kafka_topics.end_offsets(kafka.config, x) for x in (plan["topic"], plan["dlq_topic"])},
        "batch_before": spark_metadata.last_committed_batch(hdfs, plan["checkpoint"]),
    }
    step("record_offsets", t)

    t = time.monotonic()
    env = {**os.environ, "HADOOP_USER_NAME": plan["hdfs_user"]}
    with open(spec["log"], "w") as log:
        code = subprocess.call(spec["command"], stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise SystemExit(f"spark-submit failed with exit code {code}; log: {spec['log']}")
    step("submit_write_job", t)

    t = time.monotonic()
    report = verification.verify_write(
        kafka.config,
        hdfs,
        topic=plan["topic"],
        dlq_topic=plan["dlq_topic"],
        start_offsets=recorded["offsets"],
        checkpoint=plan["checkpoint"],
        batch_before=recorded["batch_before"],
        timeout_s=300,
    )
    if not report.complete:
        raise SystemExit("verification failed:\n" + "\n".join(report.summary()["diff"]))
    step("verify_messages", t)

    total = round(time.monotonic() - started, 3)
    print("BENCH_RESULT " + json.dumps({"seconds": total, "steps": steps}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
