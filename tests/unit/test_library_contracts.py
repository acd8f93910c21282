"""The library's own contracts: plans survive XCom, one topic rule, the jobs zip, the connector, pinned copies."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from include import config, rows, spark_app
from include.config import DEFAULT_PLAYERS_CSV
from include.connections import HdfsSettings, KafkaSettings
from include.kafka.admin import check_kafka_topic_name, dlq_topic, validate_topic_name
from include.pipeline.read import ReadRecord
from include.pipeline.write import WriteRecord
from include.plans import ReadPlan, WritePlan, plan_read, plan_write

KAFKA = KafkaSettings({"bootstrap.servers": "b1:9092"})
HDFS = HdfsSettings(namenodes=("nn1", "nn2"), http_port=9870, user="ana", hdfs_uri="hdfs://nn1:8020")


def test_a_write_plan_comes_back_from_its_xcom_dict_unchanged_and_carries_its_job_arguments():
    plan = plan_write(
        {"source_csv": str(DEFAULT_PLAYERS_CSV), "partitions": 2, "trigger": "processingTime"}, KAFKA, HDFS
    )
    as_dict = plan.to_dict()
    assert as_dict["spark_args"] == plan.spark_args
    assert WritePlan.from_dict(as_dict) == plan
    assert WritePlan.of(as_dict) == plan and WritePlan.of(plan) is plan


def test_a_read_plan_comes_back_from_its_xcom_dict_unchanged():
    plan = plan_read({"topic": "t", "messages": ["a", "b"], "fail_on_data_loss": True}, KAFKA, HDFS)
    assert ReadPlan.from_dict(plan.to_dict()) == plan
    assert plan.spark_args[plan.spark_args.index("--fail-on-data-loss") + 1] == "true"
    assert "--topic-id" not in plan.spark_args  # recorded just before the job, not planned


def test_records_come_back_from_their_xcom_dicts():
    write = WriteRecord({"t": {"0": 3}, "t.dlq": {"0": 0}}, -1)
    assert WriteRecord.of(write.to_dict()) == write
    read = ReadRecord("id", {"0": 0}, {"0": 5}, {"0": 6}, None, -1, {}, [], ["--topic", "t", "--topic-id", "id"])
    assert ReadRecord.of(read.to_dict()) == read
    assert ReadRecord.of(json.loads(json.dumps(read.to_dict()))) == read  # XCom's JSON round trip


def test_hdfs_settings_have_one_json_form():
    assert HdfsSettings.from_dict(HDFS.to_dict()) == HDFS
    assert HDFS.to_dict()["namenodes"] == ["nn1", "nn2"]


def test_one_topic_rule_whose_dead_letter_topic_fits_kafkas_limit():
    longest = "x" * (config.KAFKA_TOPIC_MAX_CHARS - len(config.DLQ_SUFFIX))
    assert re.fullmatch(config.TOPIC_PATTERN, longest)
    assert validate_topic_name(longest) == longest
    assert check_kafka_topic_name(dlq_topic(longest)) == dlq_topic(longest)
    assert len(dlq_topic(longest)) == config.KAFKA_TOPIC_MAX_CHARS
    with pytest.raises(ValueError, match="invalid topic name"):
        validate_topic_name(longest + "x")
    assert not re.fullmatch(config.TOPIC_PATTERN, longest + "x")
    with pytest.raises(ValueError, match="invalid topic name"):
        check_kafka_topic_name("x" * (config.KAFKA_TOPIC_MAX_CHARS + 1))


def test_the_dags_topic_param_uses_the_same_rule():
    from include.params import topic_param

    assert topic_param("t")["topic"].schema["pattern"] == config.TOPIC_PATTERN


def test_the_dags_spark_settings_name_no_local_archive_and_no_local_path():
    assert "SharedArchiveFile" not in " ".join(config.SPARK_CONF.values())
    assert ".stack" not in " ".join(config.SPARK_CONF.values())


def test_the_jobs_zip_holds_the_jobs_package_and_is_named_by_its_content(tmp_path):
    first = spark_app.jobs_archive(out_dir=tmp_path)
    assert first.name.startswith("jobs-") and first.suffix == ".zip"
    assert spark_app.jobs_archive(out_dir=tmp_path) == first  # same sources, same file
    with zipfile.ZipFile(first) as archive:
        names = set(archive.namelist())
        assert {"jobs/__init__.py", "jobs/streaming.py", "jobs/write_to_kafka.py", "jobs/read_from_kafka.py"} <= names
        for source in spark_app.job_sources():
            assert archive.read(f"jobs/{source.name}") == source.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no partial file left


def test_changed_job_sources_give_a_new_zip(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "__init__.py").write_text("")
    (jobs / "streaming.py").write_text("A = 1\n")
    first = spark_app.jobs_archive(jobs, tmp_path / "out")
    (jobs / "streaming.py").write_text("A = 2\n")
    second = spark_app.jobs_archive(jobs, tmp_path / "out")
    assert first != second and first.is_file() and second.is_file()


def test_the_connector_is_the_jars_folder_when_given_else_the_package_of_pysparks_version(tmp_path, monkeypatch):
    import pyspark

    monkeypatch.delenv(spark_app.JARS_DIR_ENV, raising=False)
    assert spark_app.kafka_connector() == {
        "packages": f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"
    }
    monkeypatch.setenv(spark_app.JARS_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no Spark Kafka connector jars"):
        spark_app.kafka_connector()
    (tmp_path / "b.jar").write_bytes(b"")
    (tmp_path / "a.jar").write_bytes(b"")
    assert spark_app.kafka_connector() == {"jars": f"{tmp_path / 'a.jar'},{tmp_path / 'b.jar'}"}


def test_the_write_jobs_copies_of_the_row_rules_are_the_rules():
    from jobs import write_to_kafka

    assert write_to_kafka.MAX_AGE == rows.MAX_AGE
    assert write_to_kafka.MAX_NAME_CHARS == rows.MAX_NAME_CHARS
    assert write_to_kafka.MAX_RAW_CHARS == rows.MAX_RAW_CHARS


def test_the_jobs_import_nothing_of_include():
    for source in spark_app.job_sources():
        text = source.read_text()
        assert not re.search(r"^\s*(from|import) include\b", text, re.M), source.name
