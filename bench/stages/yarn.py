"""3c: the write and read jobs on YARN, beside local[*] in the same run: the single profile's YARN (a ResourceManager
and one NodeManager on the stack's HDFS, devstack/nodes.py SINGLE_YARN; started for this stage when it is down,
and stopped after), the same CSV and rows as stages 2 and 3, the DAG's exact spark-submit command for a
spark_default of host ``yarn`` (what `make run SPARK_MASTER=yarn [SPARK_DEPLOY_MODE=cluster]` sets), in client
and cluster deploy mode, and the rates computed as the local stages compute them: the write job's records over
its first to last Kafka timestamp, the read job's rows over Spark's addBatch time (from the driver's batch
progress lines: spark-submit's output in client mode, the driver container's log in cluster mode).

One executor of 2 cores and 1 GB (local[*] has 2 task threads in a 1 GB driver), so the figures compare the same
work on the same cores, the YARN way: the data crosses from the executor's JVM to the driver's only for what a
driver does (offsets, commits), the jars and job files go through HDFS, and each application first waits for
its ApplicationMaster container.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from unittest import mock

from bench import stats
from bench.stages import read, write
from bench.stages.common import SUBPROCESS_TIMEOUT_S, Context, SubmitRun, read_plan, run_submit
from devstack import nodes
from devstack.engine import Stack
from include import yarn

MODES = ("client", "cluster")


def suffix(mode: str) -> str:
    """The results' key suffix of a deploy mode: ``_yarn`` (client) and ``_yarn_cluster``."""
    return "_yarn" if mode == "client" else f"_yarn_{mode}"


@contextlib.contextmanager
def yarn_running(stack: Stack) -> Iterator[str]:
    """The profile's YARN up while the block runs (started through the engine when down, stopped after: only what
    this stage started); yields the ResourceManager's web address."""
    names = [n.name for n in stack.profile.select(["yarn"])]
    was_up = all(stack.pid(name) for name in names)
    if not was_up:
        stack.up(["yarn"])
    try:
        yield nodes.single_yarn_rm_url()
    finally:
        if not was_up:
            stack.down(["yarn"])


@contextlib.contextmanager
def spark_on_yarn(mode: str) -> Iterator[None]:
    """This process's environment as `make ... SPARK_MASTER=yarn SPARK_DEPLOY_MODE=<mode>` sets it, while the block
    runs: the spark_default connection that the operator's hook reads, and spark-submit's HADOOP_CONF_DIR and
    SPARK_CONF_DIR; without the local driver's CDS archive (SPARK_SUBMIT_OPTS), which a SPARK_CONF_DIR on the
    classpath makes the JVM refuse."""
    with mock.patch.dict(os.environ, nodes.spark_on_yarn_env(mode)):  # restores the whole environment after
        os.environ.pop("SPARK_SUBMIT_OPTS", None)
        yield


def submit_on_yarn(
    command: list[str], log: Path, env_extra: dict[str, str] | None = None, *, rm: str, mode: str, apps: list[str]
) -> SubmitRun:
    """A job's spark-submit on YARN, to the end of its application; its id is appended to ``apps``. In cluster
    deploy mode spark-submit exits once YARN has the application (the operator's yarn_track_via_rm_api): this
    follows it through the ResourceManager, as the task does, and the output is then the driver container's log.
    The seconds run from spark-submit's start to the application's end; a failed application raises with the
    driver's error lines."""
    started = time.monotonic()
    run = run_submit(command, log, env_extra)
    app = next((a for line in run.output.splitlines() if (a := yarn.application_id(line))), None)
    if app is None:
        raise RuntimeError(f"spark-submit named no YARN application; log: {log}")
    apps.append(app)
    state = yarn.wait_ended(rm, app, SUBPROCESS_TIMEOUT_S)
    if state.final_status != "SUCCEEDED":
        tails = yarn.driver_log_tail(rm, app)
        errors = [line for text in tails.values() for line in yarn.error_lines(text)]
        raise RuntimeError(
            f"YARN application {app} ended {state.state}/{state.final_status}: {state.diagnostics[:500]}\n"
            + "\n".join(errors)
        )
    if mode == "client":
        return run
    seconds = time.monotonic() - started
    driver_log = "\n".join(p.read_text(errors="replace") for p in container_logs(app))
    log.with_suffix(".driver.log").write_text(driver_log)
    return SubmitRun(seconds, driver_log, log, None, run.broker_peak_rss_mb)


def container_logs(app: str) -> list[Path]:
    """The stdout and stderr of every container of ``app``, from the local NodeManager's log folder (log
    aggregation is off: what `yarn logs` would show)."""
    yarn_data = Stack().profile.data_dir / "yarn"
    return sorted(p for p in yarn_data.glob(f"*/logs/{app}/*/std*") if p.is_file())


def run(ctx: Context) -> str:
    summary = []
    with yarn_running(Stack()) as rm:
        for mode in MODES:
            apps: list[str] = []
            submit = partial(submit_on_yarn, rm=rm, mode=mode, apps=apps)
            with spark_on_yarn(mode):
                plan = write.plan_write(ctx, f"players-yarn-{mode}", f"landing-yarn-{mode}")
                written = write.measure(ctx, plan, ctx.work / f"write_to_kafka_yarn_{mode}.log", submit)
                params = {
                    "topic": plan.topic,
                    "output_dir": ctx.home(f"archive-yarn-{mode}"),
                    "starting_offsets": "earliest",
                    "trigger": "availableNow",
                }
                read_plan_, recorded = read_plan(ctx, params)
                read_ = read.measure(ctx, read_plan_, recorded, ctx.work / f"read_from_kafka_yarn_{mode}.log", submit)
            key = suffix(mode)
            ctx.results[f"write_rows_per_s{key}"] = written["rows_per_s"]
            ctx.results[f"read_rows_per_s{key}"] = read_["rows_per_s"]
            ctx.results[f"write_submit_s{key}"] = written["submit_s"]
            ctx.results[f"read_submit_s{key}"] = read_["submit_s"]
            # against local[*], in the same run (None when the local stages did not run)
            ctx.results[f"write{key}_to_local_ratio"] = stats.ratio(
                written["rows_per_s"], ctx.results.get("write_rows_per_s")
            )
            ctx.results[f"read{key}_to_local_ratio"] = stats.ratio(
                read_["rows_per_s"], ctx.results.get("read_rows_per_s")
            )
            ctx.details[f"yarn_{mode}"] = {"applications": apps, "write": written, "read": read_}
            summary.append(
                f"{mode} mode: write {written['rows_per_s'] or float('nan'):,.0f} rec/s "
                f"(spark-submit to end {written['submit_s']:.0f}s), read {read_['rows_per_s'] or float('nan'):,.0f} "
                f"rec/s ({read_['submit_s']:.0f}s)"
            )
    ctx.details["yarn"] = {
        "resourcemanager": rm,
        "nodemanager_memory_mb": nodes.SINGLE_YARN["nm_memory_mb"],
        "executor": nodes.SINGLE_YARN_EXECUTOR,
        "method": "the same CSV, rows and rate computations as the write and read stages, with the DAG's "
        "spark-submit for spark_default host yarn (devstack/nodes.py spark_on_yarn_env); submit_s runs from "
        "spark-submit's start to the application's end in the ResourceManager",
    }
    return "; ".join(summary)
