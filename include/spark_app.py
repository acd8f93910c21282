"""What spark-submit needs besides the job's arguments, resolved when the task runs (never at DAG parse):

- the application: ``jobs/<job>.py``;
- ``--py-files``: a zip of the ``jobs`` package (the jobs import ``jobs.streaming``), built here from the
  package's sources, named by their content and written atomically, so that any worker (or a cluster's
  driver) gets exactly the code of this deployment;
- the Kafka connector: the jars in ``$SPARK_KAFKA_JARS_DIR`` (resolved once, no network at submit), else
  ``--packages`` with the connector built for the installed pyspark (resolved by Ivy, needs Maven Central).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

from include.config import JOBS_DIR

JARS_DIR_ENV = "SPARK_KAFKA_JARS_DIR"
CONNECTOR_ARTIFACT = "org.apache.spark:spark-sql-kafka-0-10_2.13"
ARCHIVE_DIR_ENV = "JOBS_ARCHIVE_DIR"
# fixed timestamps: the same sources always give the same zip bytes
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def application(job: str) -> str:
    """The path spark-submit runs for ``job`` (write_to_kafka or read_from_kafka)."""
    return str(JOBS_DIR / f"{job}.py")


def job_sources(jobs_dir: Path = JOBS_DIR) -> list[Path]:
    """The files of the jobs package that go into the zip: its Python modules, in a stable order."""
    sources = sorted(p for p in jobs_dir.glob("*.py") if p.is_file())
    if not (jobs_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"{jobs_dir} is not the jobs package (no __init__.py)")
    return sources


def jobs_archive(jobs_dir: Path = JOBS_DIR, out_dir: Path | None = None) -> Path:
    """A zip of the jobs package (``jobs/__init__.py``, ``jobs/streaming.py``, ...) for ``--py-files``.

    Named ``jobs-<sha256 of the sources>.zip`` in ``out_dir`` (default ``$JOBS_ARCHIVE_DIR`` or the temp
    folder): the same sources reuse the same file, changed sources get a new one. Written to a temporary name
    and renamed, so a concurrent task never sees a partial zip.
    """
    sources = job_sources(jobs_dir)
    digest = hashlib.sha256()
    for path in sources:
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    out_dir = out_dir or Path(os.environ.get(ARCHIVE_DIR_ENV) or Path(tempfile.gettempdir()) / "kafka-spark-airflow")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"jobs-{digest.hexdigest()[:16]}.zip"
    if target.is_file():
        return target
    fd, partial = tempfile.mkstemp(prefix=".jobs-", suffix=".zip.partial", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sources:
                info = zipfile.ZipInfo(f"jobs/{path.name}", date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def connector_jars_dir() -> Path | None:
    """``$SPARK_KAFKA_JARS_DIR`` (the Makefile sets it to the local stack's resolved jars), or None."""
    value = os.environ.get(JARS_DIR_ENV)
    return Path(value) if value else None


def connector_package() -> str:
    """The Maven coordinate of the Kafka connector built for the installed pyspark."""
    return f"{CONNECTOR_ARTIFACT}:{version('pyspark')}"


def kafka_connector() -> dict[str, str]:
    """``{"jars": "<a.jar,b.jar,...>"}`` from ``$SPARK_KAFKA_JARS_DIR``, or ``{"packages": <coordinate>}``."""
    folder = connector_jars_dir()
    if folder is None:
        return {"packages": connector_package()}
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no Spark Kafka connector jars in {folder} (${JARS_DIR_ENV}): resolve them there "
            f"(locally: 'make setup'), or unset {JARS_DIR_ENV} to use --packages {connector_package()}"
        )
    return {"jars": ",".join(jars)}


def submit_files(job: str) -> dict[str, str]:
    """application, py_files and the connector (jars or packages): what spark-submit needs for ``job``."""
    return {"application": application(job), "py_files": str(jobs_archive()), **kafka_connector()}
