"""6a: orchestration overhead: `airflow dags test write_to_kafka` against the same steps without Airflow
(bench/bare_write.py), and the floor of any `airflow dags test` (bench/dags/bench_noop.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench import players_data
from bench.stages.common import (
    AIRFLOW,
    BENCH_DIR,
    PROJECT_ROOT,
    SEED,
    SMALL_ROWS,
    SUBPROCESS_TIMEOUT_S,
    Context,
    dag_command,
    result_line,
)
from include.pipeline import write


def run(ctx: Context) -> str:
    small = players_data.write_csv(ctx.work / "small.csv", SMALL_ROWS, SEED + 1)
    # 1. the DAG, as `make run` does
    dag_conf = {"source_csv": str(small.path), "topic": ctx.name("dag"), "hdfs_dir": ctx.home("dag-landing")}
    dag_plan = write.plan({**dag_conf, "partitions": 1, "replication_factor": 1}, ctx.connections)
    ctx.track_plan(dag_plan)
    ctx.hdfs_paths.append(dag_plan.hdfs_dir)
    log = ctx.work / "dag_write_to_kafka.log"
    wall_start = time.time()
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call(
            [AIRFLOW, "dags", "test", "write_to_kafka", "--conf", json.dumps(dag_conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=ctx.dag_env,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
    dag_s = time.monotonic() - started
    output = log.read_text(errors="replace")
    dag_tasks = dag_task_seconds(output, wall_start)
    if code != 0 or "state=success" not in output:
        raise RuntimeError(f"airflow dags test write_to_kafka failed (exit code {code}); log: {log}")
    # 2. the same steps, bare
    bare_params = {
        "source_csv": str(small.path),
        "topic": ctx.name("bare"),
        "hdfs_dir": ctx.home("bare-landing"),
        "partitions": 1,
        "replication_factor": 1,
    }
    bare_plan = write.plan(bare_params, ctx.connections)
    ctx.track_plan(bare_plan)
    spec = {
        "params": bare_params,
        "kafka_config": ctx.kafka.config,
        "hdfs": ctx.hdfs_settings.to_dict(),
        "command": dag_command(bare_plan.job, bare_plan.spark_args, "write_to_kafka"),
        "log": str(ctx.work / "bare_write_to_kafka.log"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bare_write"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    bare_s = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the bare run failed (exit code {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    bare = json.loads(result_line(proc.stdout))
    floor_s = dags_test_floor(ctx)
    ctx.results["dag_run_s"] = dag_s
    ctx.results["dags_test_floor_s"] = floor_s
    ctx.results["bare_run_s"] = bare_s
    ctx.results["dag_overhead_s"] = dag_s - bare_s
    ctx.results["dag_overhead_ratio"] = (dag_s - bare_s) / dag_s
    # overhead / (bare + overhead) <= 0.2  <=>  overhead <= bare / 4
    ctx.results["dag_overhead_budget_s"] = bare_s / 4
    ctx.details["orchestration"] = {
        "rows": SMALL_ROWS,
        "dag_s": dag_s,
        "bare_s": bare_s,
        "dag_tasks_s": dag_tasks,
        "bare_steps_s": bare["steps"],
        "dags_test_floor_s": floor_s,
        "floor_method": "airflow dags test of bench/dags/bench_noop.py (one task that does nothing) in a "
        "throwaway AIRFLOW_HOME: what any `airflow dags test` process costs; the rest of the overhead is "
        "write_to_kafka's own tasks and the scheduling between them",
    }
    return (
        f"airflow dags test {dag_s:.1f}s vs bare {bare_s:.1f}s: overhead {dag_s - bare_s:.1f}s "
        f"({ctx.results['dag_overhead_ratio']:.0%} of the DAG run); a one-task no-op DAG takes {floor_s:.1f}s"
    )


def dags_test_floor(ctx: Context) -> float:
    """Seconds of `airflow dags test` for a DAG of one task that does nothing (bench/dags/bench_noop.py), in a
    throwaway Airflow home (its own SQLite database, migrated first and not timed)."""
    home = ctx.work / "airflow-floor"
    home.mkdir()
    env = {
        **ctx.dag_env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(BENCH_DIR / "dags"),
    }
    log = ctx.work / "dags_test_floor.log"
    with log.open("w") as out:
        subprocess.run(
            [AIRFLOW, "db", "migrate"], stdout=out, stderr=subprocess.STDOUT, env=env, check=True, timeout=300
        )
        started = time.monotonic()
        code = subprocess.call(
            [AIRFLOW, "dags", "test", "bench_noop"], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=300
        )
    seconds = time.monotonic() - started
    if code != 0 or "state=success" not in log.read_text(errors="replace"):
        raise RuntimeError(f"airflow dags test bench_noop failed (exit code {code}); log: {log}")
    return seconds


_DAG_TEST_LINE = re.compile(r"^(\S+?)Z? .*\[DAG TEST\] (starting|end task) task_id=(\w+)", re.M)


def dag_task_seconds(output: str, wall_start: float) -> dict[str, float]:
    """Where an `airflow dags test` run spent its time, from its log: the seconds before the first task
    starts (CLI start, DAG parsing, run creation), each task's, and the gaps between tasks in total."""
    marks = [
        (datetime.fromisoformat(ts).replace(tzinfo=UTC).timestamp(), what, task)
        for ts, what, task in _DAG_TEST_LINE.findall(output)
    ]
    if not marks:
        return {}
    out: dict[str, float] = {"before_first_task": round(marks[0][0] - wall_start, 2)}
    begun: dict[str, float] = {}
    for at, what, task in marks:
        if what == "starting":
            begun[task] = at
        elif task in begun:
            out[task] = round(at - begun.pop(task), 2)
    return out
