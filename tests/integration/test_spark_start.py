"""The jobs' driver JVM really maps the class-data-sharing archive (devstack/cds.py): `make setup` builds
it, `make up` trains it again on the running stack, so that the Kafka clients and the HDFS client come from
it too. The option reaches spark-submit through the local stack's environment, never through the DAGs' own
settings (include/config.py SPARK_CONF)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devstack import cds as spark_cds
from include.config import PROJECT_ROOT, SPARK_CONF
from include.spark_app import kafka_connector
from tests.support.kafka import produce_records
from tests.support.stack import BOOTSTRAP, HDFS_URI, hdfs_user


def class_loads(app: Path, args: list[str], log: Path) -> list[str]:
    """Run ``app`` through spark-submit with the jobs' driver options, and return the JVM's class-load log."""
    options = SPARK_CONF["spark.driver.extraJavaOptions"]
    command = [
        "spark-submit",
        *("--conf", f"spark.driver.extraJavaOptions={options} -Xlog:class+load=info:file={log}"),
        *("--conf", "spark.ui.enabled=false"),
        *(f"--{option}={value}" for option, value in kafka_connector().items()),
        str(app),
        *args,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return log.read_text().splitlines()


def loaded_from_archive(lines: list[str], class_name: str) -> bool:
    found = [line for line in lines if f" {class_name} source: " in line]
    assert found, f"{class_name} was not loaded at all"
    return "shared objects file" in found[0]


def test_the_driver_loads_most_spark_classes_from_the_shared_archive(stack, tmp_path):
    archive = spark_cds.archive_path()
    assert archive.is_file(), f"no class-data-sharing archive at {archive}: run 'make setup'"
    # the DAGs never name it: the local stack's environment gives it to spark-submit
    assert "SharedArchiveFile" not in SPARK_CONF["spark.driver.extraJavaOptions"]
    loaded = class_loads(PROJECT_ROOT / "bench" / "apps" / "submit_probe.py", [], tmp_path / "probe.log")
    shared = [line for line in loaded if "shared objects file (top)" in line]
    spark = [line for line in loaded if " org.apache.spark." in line]
    spark_shared = [line for line in spark if "shared objects file (top)" in line]
    assert len(shared) > 3000, f"only {len(shared)} of {len(loaded)} classes came from {archive}"
    # the rest: the connector's classes (--jars: a class loader CDS does not archive) and generated classes
    assert len(spark_shared) > 0.6 * len(spark), f"{len(spark_shared)} of {len(spark)} Spark classes were shared"


READER_APP = """
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
bootstrap, topic, path = sys.argv[1:4]
records = spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("subscribe", topic).load()
print("COUNTS", records.count(), spark.read.text(path).count(), flush=True)
spark.stop()
"""


def test_the_archive_trained_on_the_stack_holds_the_kafka_consumer_and_the_hdfs_client(
    stack, tmp_path, hdfs, unique, cleanup_topics, cleanup_hdfs
):
    archive = spark_cds.archive_path()
    assert spark_cds.training_of(archive) == spark_cds.STACK, f"{archive} was not trained on the stack: 'make up'"
    from include.kafka.admin import ensure_topic

    topic = f"cds-{unique}"
    cleanup_topics(topic)
    ensure_topic({"bootstrap.servers": BOOTSTRAP}, topic, 1, 1)
    produce_records([(topic, f"k{i}", str(i), None) for i in range(5)])
    path = f"/user/{hdfs_user()}/cds-{unique}/lines.txt"
    cleanup_hdfs(os.path.dirname(path))
    hdfs.write(path, data="a\nb\nc\n", overwrite=True)
    app = tmp_path / "reader.py"
    app.write_text(READER_APP)
    loaded = class_loads(app, [BOOTSTRAP, topic, f"{HDFS_URI}{path}"], tmp_path / "reader.log")
    for class_name in (
        "org.apache.kafka.clients.consumer.KafkaConsumer",
        "org.apache.kafka.common.record.DefaultRecordBatch",
        "org.apache.hadoop.hdfs.DFSClient",
        "org.apache.hadoop.hdfs.protocolPB.ClientNamenodeProtocolTranslatorPB",
        "org.apache.hadoop.hdfs.client.impl.BlockReaderRemote",
    ):
        assert loaded_from_archive(loaded, class_name), f"{class_name} came from a jar, not from {archive}"


def test_the_stack_training_leaves_no_topic_or_hdfs_path_behind(stack, hdfs):
    from confluent_kafka.admin import AdminClient

    assert spark_cds.training_of(spark_cds.archive_path()) == spark_cds.STACK, "'make up' did not train on the stack"
    topics = AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=30).topics
    left = sorted(t for t in topics if t.startswith("spark-cds-training-"))
    assert left == [], f"the class-data-sharing training left topics behind: {left}"
    home = f"/user/{hdfs_user()}"
    paths = [home, f"{home}/checkpoints/write_to_kafka", f"{home}/checkpoints/read_from_kafka"]
    found = [f"{p}/{n}" for p in paths if hdfs.status(p, strict=False) for n in hdfs.list(p)]
    left = [p for p in found if "spark-cds-training-" in p]
    assert left == [], f"the class-data-sharing training left HDFS paths behind: {left}"
