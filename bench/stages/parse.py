"""4: the parse ceiling: the CSV -> the write job's parsing functions -> Spark's noop sink
(bench/apps/parse_noop.py)."""

from __future__ import annotations

import json

from bench import stats
from bench.stages.common import BENCH_DIR, Context, result_line, run_submit, submit_command
from include.spark_app import jobs_archive


def run(ctx: Context) -> str:
    if ctx.write_plan is None:
        raise RuntimeError("the write stage did not run: no CSV on HDFS")
    source = f"{ctx.hdfs_settings.hdfs_uri}{ctx.write_plan.hdfs_dir}"
    command = submit_command(
        str(BENCH_DIR / "apps" / "parse_noop.py"),
        "bench-parse-noop",
        ["--source", source],
        py_files=str(jobs_archive()),
    )
    run = run_submit(command, ctx.work / "parse_noop.log", {"HADOOP_USER_NAME": ctx.hdfs_settings.user})
    result = json.loads(result_line(run.output))
    if result["rows"] != ctx.rows:
        raise RuntimeError(f"the parse reached the sink with {result['rows']} rows, expected {ctx.rows}")
    ctx.results["parse_rows_per_s"] = stats.rate(result["rows"], result["seconds"])
    ctx.details["parse"] = {"rows": result["rows"], "seconds": result["seconds"], "submit_s": round(run.seconds, 2)}
    write = ctx.details.get("write", {})
    if write:
        # the write batch = line counts, parse (+ sort by key when several tasks write), then the Kafka sink; its share:
        ctx.results["kafka_sink_share_of_write"] = write["kafka_first_to_last_s"] / write["batch_s"]
    return f"{ctx.results['parse_rows_per_s']:,.0f} rec/s ({result['seconds']:.1f}s for {result['rows']:,} rows)"
