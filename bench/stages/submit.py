"""6b: spark-submit start with the pre-resolved --jars (no network) against --packages with a cold Ivy cache."""

from __future__ import annotations

import shutil
import subprocess

from bench import stats
from bench.stages.common import BENCH_DIR, Context, result_line, run_submit, submit_command
from include.config import SPARK_CONF
from include.spark_app import connector_package, kafka_connector

SUBMIT_START_RUNS = 3  # spark-submit start-ups timed with --jars; the figure is their median


def no_network_prefix() -> list[str]:
    """A command prefix that runs its command with no network but loopback (a new network namespace), or []
    when this machine can't make one (then the --jars start simply uses no network)."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return []
    probe = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return []
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "no-network"]


def run(ctx: Context) -> str:
    probe = str(BENCH_DIR / "apps" / "submit_probe.py")
    env = {"HADOOP_USER_NAME": ctx.hdfs_settings.user}
    isolation = no_network_prefix()
    jars = kafka_connector().get("jars")
    if jars is None:
        raise RuntimeError(
            "SPARK_KAFKA_JARS_DIR is not set: this stage compares the pre-resolved --jars (run it via make)"
        )
    jars_cmd = isolation + submit_command(probe, "bench-submit-probe", jars=jars)
    # a start-up is a few seconds of CPU on a shared machine: the median of a few runs, each one reported
    jars_runs = []
    for attempt in range(SUBMIT_START_RUNS):
        jars_runs.append(run_submit(jars_cmd, ctx.work / f"submit_jars_{attempt}.log", env))
        result_line(jars_runs[-1].output)
    jars_seconds = sorted(run.seconds for run in jars_runs)
    jars_s = stats.percentile(jars_seconds, 50)
    ivy = ctx.work / "ivy-cold"
    package = connector_package()
    packages_cmd = submit_command(
        probe, "bench-submit-probe", conf={**SPARK_CONF, "spark.jars.ivy": str(ivy)}, packages=package
    )
    packages = run_submit(packages_cmd, ctx.work / "submit_packages.log", env)
    result_line(packages.output)
    shutil.rmtree(ivy, ignore_errors=True)
    ctx.results["submit_jars_s"] = jars_s
    ctx.results["submit_packages_s"] = packages.seconds
    ctx.details["submit"] = {
        "jars_s": jars_s,
        "jars_runs_s": [round(x, 2) for x in jars_seconds],
        "jars_method": f"median of {SUBMIT_START_RUNS} runs",
        "jars_network": "none: a network namespace with loopback only (unshare --net)" if isolation else "not cut",
        "packages_s": packages.seconds,
        "package": package,
        "ivy_cache": "fresh, empty (spark.jars.ivy), deleted after",
    }
    network = "no network" if isolation else "network not cut"
    runs = ", ".join(f"{x:.1f}" for x in jars_seconds)
    return f"--jars {jars_s:.1f}s (median of {runs}; {network}), --packages cold {packages.seconds:.1f}s"
