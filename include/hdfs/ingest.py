"""The source CSV into HDFS: checked first, then uploaded atomically under a name derived from its content."""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from dataclasses import asdict, dataclass
from pathlib import Path

from include.rows import looks_binary

log = logging.getLogger(__name__)


class SourceFileError(ValueError):
    """The local file to ingest is missing, empty-named, a directory, unreadable or binary."""


def check_source_file(source: str) -> Path:
    """The local CSV to ingest, checked before anything starts: a clear error for each way it can be wrong."""
    if not isinstance(source, str) or not source.strip():
        raise SourceFileError("source_csv is empty: give the path of a local CSV file (name;age per line)")
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceFileError(f"source_csv {str(path)!r} does not exist")
    if path.is_dir():
        raise SourceFileError(f"source_csv {str(path)!r} is a directory, not a file")
    if not path.is_file():
        raise SourceFileError(f"source_csv {str(path)!r} is not a regular file")
    if not os.access(path, os.R_OK):
        raise SourceFileError(f"source_csv {str(path)!r} is not readable by this user")
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError as exc:
        raise SourceFileError(f"source_csv {str(path)!r} can't be read: {exc.strerror or exc}") from exc
    if looks_binary(head):
        raise SourceFileError(
            f"source_csv {str(path)!r} is a binary file, not a text CSV (name;age lines): refused, nothing sent"
        )
    return path


def check_target_dir(hdfs, hdfs_dir: str) -> None:
    """``hdfs_dir`` must be absolute and, if it exists, a directory."""
    if not hdfs_dir.startswith("/"):
        raise ValueError(f"hdfs_dir must be an absolute HDFS path such as /user/me/testdir, got {hdfs_dir!r}")
    status = hdfs.status(hdfs_dir, strict=False)
    if status is not None and status["type"] != "DIRECTORY":
        raise ValueError(f"hdfs_dir {hdfs_dir!r} exists and is a file, not a directory")


@dataclass(frozen=True)
class Ingested:
    path: str  # absolute HDFS path of the file in hdfs_dir
    sha256: str
    size: int
    new: bool  # False when the same content was there already (re-run: no-op)

    def to_dict(self) -> dict:
        return asdict(self)


def content_name(source: Path, digest: str) -> str:
    """``players.csv`` with content sha256 ``ab12...`` -> ``players-ab12....csv``: same content, same name."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in source.stem).strip("_.") or "data"
    suffix = source.suffix if source.suffix.replace(".", "").isalnum() else ""
    return f"{stem}-{digest[:16]}{suffix or '.csv'}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(hdfs, source: Path, hdfs_dir: str) -> Ingested:
    """Upload ``source`` into ``hdfs_dir`` atomically under a content-derived name.

    The bytes go to a hidden name (``.<name>._COPYING_``: Spark's file source ignores names starting with
    '.'), then one rename makes the file appear whole. The same content again is a no-op.
    """
    digest = sha256_of(source)
    size = source.stat().st_size
    final = posixpath.join(hdfs_dir, content_name(source, digest))
    existing = hdfs.status(final, strict=False)
    if existing is not None:
        if existing["type"] == "FILE" and existing["length"] == size:
            log.info("%s already holds this content (%s): nothing to upload", final, digest[:16])
            return Ingested(final, digest, size, new=False)
        raise RuntimeError(f"{final} exists but is not this file's content ({existing}); remove it and re-run")
    hdfs.makedirs(hdfs_dir)
    temp = posixpath.join(hdfs_dir, f".{posixpath.basename(final)}._COPYING_")
    try:
        with source.open("rb") as handle:
            hdfs.write(temp, handle, overwrite=True)
        written = hdfs.status(temp)["length"]
        if written != size:
            raise RuntimeError(f"uploaded {written} bytes of {size} to {temp}")
        hdfs.rename(temp, final)
    except BaseException:
        try:
            hdfs.delete(temp)
        except Exception:  # noqa: BLE001 - HDFS may be the thing that failed; the temp name is hidden anyway
            log.warning("could not remove the temporary file %s", temp)
        raise
    log.info("uploaded %s (%d bytes) to %s", source, size, final)
    return Ingested(final, digest, size, new=True)
