"""A full audit of a read_from_kafka archive, on demand: every message the topic still holds below the query's
checkpoint is in the archive exactly once, byte for byte, and the archive holds nothing else of that range.

    python -m include.verify.audit --topic kafka-new-topic --output-dir /user/me/kafka-new-topic-archive

(inside the Airflow environment: it uses the DAGs' connections, ``--kafka-conn-id`` / ``webhdfs_default``).
Both sides are streamed, as a run's own check is (include/verify/read.py): memory stays bounded whatever the
archive's size, and progress is logged every 10 s. Rows of messages the topic no longer holds (retention) or of
an earlier incarnation of the topic are counted, not compared. Exit 0 when the archive is complete, 1 with the
diff otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator

from include.config import KAFKA_CONN_ID
from include.connections import AIRFLOW_CONNECTIONS, Connections
from include.hdfs import archive, client, spark_logs
from include.kafka import admin, offsets
from include.verify.read import ArchiveReport, compare, kafka_rows, run_ranges

log = logging.getLogger(__name__)


def audit(
    topic: str, output_dir: str, kafka_conn_id: str = KAFKA_CONN_ID, connections: Connections = AIRFLOW_CONNECTIONS
) -> tuple[ArchiveReport, dict[str, int]]:
    """(the walk's report, the rows set aside: older incarnation, below what the topic still holds)."""
    config = connections.kafka(kafka_conn_id).config
    admin.check_broker(config)
    settings = connections.hdfs()
    hdfs = client.client(settings)
    binding = archive.read_binding(hdfs, output_dir)
    if binding is None:
        raise SystemExit(f"{output_dir} holds no archive of read_from_kafka (no _archive.json)")
    if binding["topic"] != topic:
        raise SystemExit(f"{output_dir} is the archive of topic {binding['topic']!r}, not {topic!r}")
    query_checkpoint = f"{binding['checkpoint']}/archive"
    current_id = admin.topic_id(config, topic)
    low = {p: lo for p, (lo, _) in offsets.watermarks(config, topic).items()}
    committed = spark_logs.kafka_committed_offsets(hdfs, query_checkpoint, topic)
    started = spark_logs.kafka_initial_offsets(hdfs, query_checkpoint, topic)
    # the whole query: as a run's range with no offsets before it, from where Spark started to its checkpoint
    ranges = run_ranges(None, started, committed, {str(p): o for p, o in low.items()}, {})
    set_aside = {"earlier_incarnation": 0, "no_longer_in_kafka": 0}

    def comparable(rows: Iterator[archive.ArchiveRow]) -> Iterator[archive.ArchiveRow]:
        for row in rows:
            if row.topic_id != current_id:
                set_aside["earlier_incarnation"] += 1
            elif row.offset < low.get(row.partition, 0):
                set_aside["no_longer_in_kafka"] += 1
            else:
                yield row

    files = archive.all_files(hdfs, output_dir)
    log.info("auditing %s (%d file(s)) against %s %s", output_dir, len(files), topic, ranges)
    report = compare(
        kafka_rows(config, topic, ranges, 120),
        comparable(archive.rows_in_order(client.file_system(settings), files)),
        topic,
        current_id,
        what=f"audit {output_dir}: ",
    )
    return report, set_aside


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output-dir", required=True, help="the archive's HDFS directory (a path)")
    parser.add_argument("--kafka-conn-id", default=KAFKA_CONN_ID, help="the Airflow connection to read the topic")
    args = parser.parse_args(argv)
    report, set_aside = audit(args.topic, args.output_dir, args.kafka_conn_id)
    print(f"audit: {report.summary() | set_aside}")
    if not report.ok:
        print("\n".join(report.diff()))
        return 1
    print(f"audit: {args.output_dir} holds every message of {args.topic} still in Kafka exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
