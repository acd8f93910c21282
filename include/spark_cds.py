"""A class-data-sharing (AppCDS) archive for the Spark driver JVM: spark-submit starts in about half the CPU.

A Spark driver loads and verifies some 15,000 classes before the first line of a job runs; on a 2-core
machine that is most of spark-submit's start. Java 17 can dump the classes one run loaded into an archive
(``-XX:ArchiveClassesAtExit``) that later JVMs map instead of parsing and verifying the jars again
(``-XX:SharedArchiveFile``). ``make setup`` builds the archive once, by running a short training app through
spark-submit; every job's driver then gets ``-XX:SharedArchiveFile`` through ``spark.driver.extraJavaOptions``
(see include/run_plan.py's SPARK_CONF).

The archive is valid only for the JVM and the classpath it was dumped with, so its file name carries a
fingerprint of both (the java binary, pyspark's version and jars). A JVM given an archive that does not match
runs normally, without sharing; a missing archive simply means no flag.

    python -m include.spark_cds            # build the archive if this machine has none that matches
    python -m include.spark_cds --force    # rebuild it
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ARCHIVE_DIR = PROJECT_ROOT / ".stack" / "cds"


def _spark_home() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise RuntimeError("pyspark is not importable: run 'make setup'")
    return Path(spec.origin).parent


def _java() -> Path:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(shutil.which("java") or "java"))
    return found.resolve()


def fingerprint() -> str:
    """What the archive depends on: the java binary (path, size, mtime) and Spark's jars (names, sizes)."""
    digest = hashlib.sha256()
    java = _java()
    if java.exists():
        stat = java.stat()
        digest.update(f"{java}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    for jar in sorted((_spark_home() / "jars").glob("*.jar")):
        digest.update(f"{jar.name}:{jar.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def archive_path() -> Path:
    return ARCHIVE_DIR / f"spark-driver-{fingerprint()}.jsa"


def driver_java_options(base: str) -> str:
    """``base`` plus the archive flag when this machine has a matching archive."""
    try:
        archive = archive_path()
    except (OSError, RuntimeError):
        return base
    return f"{base} -XX:SharedArchiveFile={archive}" if archive.is_file() else base


def build(base_options: str, jars: str, force: bool = False) -> Path | None:
    """Dump the archive by running the training app below through spark-submit (with the jobs' ``--jars``);
    returns its path."""
    archive = archive_path()
    if archive.is_file() and not force:
        print(f"cds: up to date ({archive})")
        return archive
    ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    for old in ARCHIVE_DIR.glob("spark-driver-*.jsa"):
        old.unlink()
    partial = archive.with_suffix(".partial")
    spark_submit = Path(sys.executable).parent / "spark-submit"
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as work:
        command = [
            str(spark_submit),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--jars",
            jars,
            "--conf",
            f"spark.driver.extraJavaOptions={base_options} -XX:ArchiveClassesAtExit={partial} -Xlog:cds=off",
            str(Path(__file__).resolve()),
            "--train",
            work,
        ]
        venv_bin = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        print(f"cds: could not build the archive (jobs run without it):\n{(proc.stdout + proc.stderr)[-2000:]}")
        return None
    partial.rename(archive)
    print(f"cds: built {archive} ({archive.stat().st_size / 1e6:.0f} MB)")
    return archive


def train(work: str) -> None:
    """What a job's driver does, in small: a session, the Kafka source planned, CSV-like parsing, Parquet
    written and read, and a streaming query (file source, availableNow, Parquet sink with a checkpoint)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.appName("spark-cds-training").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.read.format("kafka").option("kafka.bootstrap.servers", "localhost:1").option("subscribe", "t").load()
    lines = spark.range(2000).select(F.format_string("name %d;%d", "id", F.col("id") % 90).alias("line"))
    parts = F.split("line", ";")
    rows = lines.select(F.get(parts, 0).alias("name"), F.get(parts, 1).try_cast("int").alias("age"))
    rows.write.mode("overwrite").parquet(f"{work}/batch")
    spark.read.parquet(f"{work}/batch").groupBy("age").count().collect()
    query = (
        spark.readStream.schema(rows.schema)
        .parquet(f"{work}/batch")
        .select(F.col("name").cast("binary").alias("key"), F.col("age").cast("string").alias("value"))
        .writeStream.format("parquet")
        .option("path", f"{work}/stream")
        .option("checkpointLocation", f"{work}/checkpoint")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--train", metavar="WORK_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train:
        train(args.train)
        return 0
    from include.run_plan import DRIVER_JAVA_OPTIONS, spark_kafka_jars

    build(DRIVER_JAVA_OPTIONS, spark_kafka_jars(), force=args.force)
    return 0  # jobs run without the archive too: never fail setup for it


if __name__ == "__main__":
    sys.exit(main())
