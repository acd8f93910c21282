"""The jobs' driver JVM really maps the class-data-sharing archive `make setup` built (include/spark_cds.py)."""

from __future__ import annotations

import os
import subprocess

from include import spark_cds
from include.run_plan import PROJECT_ROOT, SPARK_CONF, spark_kafka_jars


def test_the_driver_loads_most_spark_classes_from_the_shared_archive(stack):
    archive = spark_cds.archive_path()
    assert archive.is_file(), f"no class-data-sharing archive at {archive}: run 'make setup'"
    options = SPARK_CONF["spark.driver.extraJavaOptions"]
    assert f"-XX:SharedArchiveFile={archive}" in options
    command = [
        "spark-submit",
        *("--conf", f"spark.driver.extraJavaOptions={options} -Xlog:class+load=info:file={archive.parent}/probe.log"),
        *("--conf", "spark.ui.enabled=false", "--jars", spark_kafka_jars()),
        str(PROJECT_ROOT / "bench" / "apps" / "submit_probe.py"),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = (archive.parent / "probe.log").read_text().splitlines()
    (archive.parent / "probe.log").unlink()
    shared = [line for line in loaded if "shared objects file (top)" in line]
    spark = [line for line in loaded if " org.apache.spark." in line]
    spark_shared = [line for line in spark if "shared objects file (top)" in line]
    assert len(shared) > 3000, f"only {len(shared)} of {len(loaded)} classes came from {archive}"
    # the rest: the connector's classes (--jars: a class loader CDS does not archive) and generated classes
    assert len(spark_shared) > 0.6 * len(spark), f"{len(spark_shared)} of {len(spark)} Spark classes were shared"
