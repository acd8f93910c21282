"""The archive's layout and its bond to the one query that writes it (pure: no Spark, no I/O).

An archive directory (``--output-dir``) holds:

- ``date=YYYY-MM-DD/part-<batch>-<n>.parquet``: the data, partitioned by the Kafka timestamp's UTC date. Only
  committed files are ever in it: a batch is written to a staging folder beside the checkpoint, then its commit
  entry is written, then its files are renamed in (each rename is atomic; a batch interrupted after its commit
  entry is rolled forward when Spark runs it again).
- ``_archive.json``: which query writes this archive (its id, topic and checkpoint). Created once, by the first
  run; every later run must be that query.
- ``_archive_log/<batch>.json``: one commit entry per micro-batch (its files), the commit point. Entries older
  than ``LOG_RETAINED`` batches are deleted; the data files stay.

The checkpoint holds the same ``_archive.json`` (with the archive's directory instead of the checkpoint), so
that a deleted checkpoint, a second topic or another user's query pointed at this archive is refused before
it can archive a message twice or skip one (``binding_problem``). include/verify/read.py uses this module too.
"""

from __future__ import annotations

import json
import re
import uuid

BINDING_FILE = "_archive.json"
LOG_DIR = "_archive_log"
STAGING_DIR = "staging"  # under the checkpoint
WHOLE_DIR, SPLIT_DIR = "whole", "split"  # a batch staged as written, and split by date (jobs/read_from_kafka.py)
DATE_COLUMN = "date"
LOG_RETAINED = 1000  # commit entries kept (a run that adds more batches than this can't be verified)
ENTRY_NAME = re.compile(r"^(\d+)\.json$")

# The archive's columns, in order (DATE_COLUMN is the directory level, not a column of the files).
COLUMNS = ("key", "value", "headers", "topic", "partition", "offset", "timestamp", "timestampType", "topic_id")


def path_of(location: str) -> str:
    """``hdfs://nn:8020/a/b`` -> ``/a/b`` (taken literally: no percent-decoding); a path stays as it is. A
    binding names paths, so that the job (given URIs) and the DAG's check (given paths) compare alike."""
    if "://" in location:  # not urlsplit: a '#' or '?' in a Hadoop path is part of the path
        authority_and_path = location.split("://", 1)[1]
        location = "/" + authority_and_path.split("/", 1)[1] if "/" in authority_and_path else "/"
    return location.rstrip("/") or "/"


def new_binding(topic: str, checkpoint: str, output_dir: str) -> dict[str, str]:
    return {
        "archive_id": uuid.uuid4().hex,
        "topic": topic,
        "checkpoint": path_of(checkpoint),
        "output_dir": path_of(output_dir),
    }


def describe(binding: dict) -> str:
    topic, checkpoint = binding.get("topic"), binding.get("checkpoint")
    return f"query {binding.get('archive_id', '?')} (topic {topic!r}, checkpoint {checkpoint})"


def binding_problem(
    in_archive: dict | None,
    in_checkpoint: dict | None,
    topic: str,
    checkpoint: str,
    output_dir: str,
    archive_has_other_files: bool,
    checkpoint_has_batches: bool,
    archive_has_batches: bool,
) -> str | None:
    """Why this query may not write this archive, with the safe way out; None when it may.

    ``in_archive`` / ``in_checkpoint``: the binding files found (None: absent). ``archive_has_other_files``:
    the directory exists and holds something but no binding (another writer, or the earlier layout);
    ``*_has_batches``: the query's commit log / the archive's log holds entries.
    """
    checkpoint, output_dir = path_of(checkpoint), path_of(output_dir)
    this = f"this run's query (topic {topic!r}, checkpoint {checkpoint})"
    new_dir = f"give this run an output_dir of its own (a new directory); {output_dir} stays as it is"
    if in_archive is None and in_checkpoint is None:
        if archive_has_other_files:
            return (
                f"output_dir {output_dir} already holds files but no {BINDING_FILE}: it is not an archive of this "
                "version (an archive written by the earlier layout, with Spark's _spark_metadata and key/value as "
                "strings, or files of another program). Archives are not migrated in place: "
                f"{new_dir} (an earlier archive stays readable with spark.read.parquet)."
            )
        if checkpoint_has_batches:
            return (
                f"checkpoint {checkpoint} has committed batches but no {BINDING_FILE}: it was made by the earlier "
                f"layout. Delete it (hdfs dfs -rm -r {checkpoint}) and give a new output_dir to start a new archive."
            )
        return None
    if in_archive is not None and in_checkpoint is not None:
        if in_archive.get("archive_id") == in_checkpoint.get("archive_id"):
            return None
        return (
            f"output_dir {output_dir} is the archive of {describe(in_archive)}, but {this} writes the archive "
            f"{in_checkpoint.get('output_dir')} ({describe(in_checkpoint)}). One archive, one query: {new_dir}."
        )
    if in_archive is not None:
        if in_archive.get("checkpoint") == checkpoint and not (checkpoint_has_batches or archive_has_batches):
            return None  # its first run stopped between writing the two files: nothing was archived yet
        if in_archive.get("checkpoint") == checkpoint:
            return (
                f"output_dir {output_dir} is the archive of {describe(in_archive)}, and that checkpoint is gone "
                "(deleted?). A new query there would archive again what is archived, or skip what is not. "
                f"Restore the checkpoint, or {new_dir}; to start over from nothing, delete both "
                f"(hdfs dfs -rm -r {output_dir} {checkpoint})."
            )
        return (
            f"output_dir {output_dir} is the archive of {describe(in_archive)}; {this} is another query (another "
            f"topic, HDFS user or output path). One archive, one query: {new_dir}."
        )
    return (
        f"checkpoint {checkpoint} belongs to the archive {in_checkpoint.get('output_dir')} "
        f"({describe(in_checkpoint)}), which is gone (deleted?): the query would go on from where it stopped and "
        f"the messages it archived before would be missing. Restore the archive, or start over: delete the "
        f"checkpoint (hdfs dfs -rm -r {checkpoint})."
    )


def entry_name(batch_id: int) -> str:
    return f"{batch_id}.json"


def batch_of(name: str) -> int | None:
    match = ENTRY_NAME.match(name)
    return int(match.group(1)) if match else None


def final_name(batch_id: int, index: int) -> str:
    """The name of a batch's n-th file in the archive: unique, and the same if the batch is rolled forward."""
    return f"part-{batch_id:010d}-{index:05d}.parquet"


def new_entry(batch_id: int, archive_id: str, files: list[dict]) -> str:
    """A commit entry: ``files`` = [{"path": relative to the archive, "staged": staged path, "bytes": n}]."""
    return json.dumps({"batch": batch_id, "archive_id": archive_id, "files": files}, sort_keys=True)
