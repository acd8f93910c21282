"""Params -> plan: every bad param is refused here, before anything starts."""

from __future__ import annotations

import pytest

from include.config import DEFAULT_PLAYERS_CSV, SPARK_JOB_TIMEOUT, SPARK_START_MARGIN
from include.connections import HdfsSettings, KafkaSettings
from include.plans import checkpoint_for, plan_read, plan_write, resolve_hdfs_dir

KAFKA = KafkaSettings({"bootstrap.servers": "b1:9092,b2:9092"})
HDFS = HdfsSettings(namenodes=("nn",), http_port=9870, user="ana", hdfs_uri="hdfs://nn:8020")
WRITE = {
    "source_csv": str(DEFAULT_PLAYERS_CSV),
    "topic": "kafka-new-topic",
    "hdfs_dir": "testdir",
    "partitions": 1,
    "replication_factor": 1,
    "trigger": "availableNow",
    "interval_seconds": 5,
    "run_seconds": 60,
    "fail_on_duplicates": False,
}
READ = {"topic": "kafka-new-topic", "messages": [], "output_dir": "", "starting_offsets": "earliest"}


def test_write_plan_resolves_relative_dirs_under_the_users_home_and_names_the_dlq():
    plan = plan_write(WRITE, KAFKA, HDFS)
    assert plan.hdfs_dir == "/user/ana/testdir"
    assert plan.dlq_topic == "kafka-new-topic.dlq"
    assert plan.spark_args[:2] == ["--source-dir", "hdfs://nn:8020/user/ana/testdir"]
    assert "--bootstrap-servers" in plan.spark_args
    assert plan.asset_uri == "kafka://b1:9092/kafka-new-topic"


def test_processing_time_passes_interval_and_run_seconds_to_the_job():
    plan = plan_write(WRITE | {"trigger": "processingTime", "interval_seconds": 2, "run_seconds": 30}, KAFKA, HDFS)
    args = plan.spark_args
    assert args[args.index("--trigger") + 1] == "processingTime"
    assert args[args.index("--run-seconds") + 1] == "30.0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topic": "bad topic!"}, "invalid topic name"),
        ({"topic": ""}, "topic is empty"),
        ({"topic": ".."}, "not allowed"),
        ({"topic": "x" * 250}, "invalid topic name"),
        ({"partitions": 0}, "partitions must be a whole number >= 1"),
        ({"partitions": 1.5}, "partitions must be a whole number >= 1"),
        ({"replication_factor": -1}, "replication_factor must be a whole number >= 1"),
        ({"run_seconds": -5}, "run_seconds must be a number >= 0"),
        ({"interval_seconds": 0}, "interval_seconds must be a number >= 0.1"),
        ({"trigger": "once"}, "trigger must be one of"),
        ({"source_csv": " "}, "source_csv is empty"),
        ({"hdfs_dir": "hdfs://other/x"}, "not a URI"),
        ({"hdfs_dir": "/"}, "can't be the HDFS root"),
        ({"hdfs_dir": "/user/ana/_tmp"}, "hidden"),
        ({"hdfs_dir": "../bob/testdir"}, r"'\.\.' part"),
        ({"hdfs_dir": "/user/ana/x/../../bob"}, r"'\.\.' part"),
    ],
)
def test_bad_write_params_are_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        plan_write(WRITE | change, KAFKA, HDFS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"starting_offsets": "beginning"}, "starting_offsets must be one of"),
        ({"messages": "hello"}, "messages must be a list of strings"),
        ({"messages": [1, 2]}, "messages must be a list of strings"),
        ({"topic": "a/b"}, "invalid topic name"),
    ],
)
def test_bad_read_params_are_refused_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        plan_read(READ | change, KAFKA, HDFS)


def test_read_output_dir_defaults_to_topic_archive_in_home():
    assert plan_read(READ, KAFKA, HDFS).output_dir == "/user/ana/kafka-new-topic-archive"


def test_each_query_gets_its_own_checkpoint():
    a = checkpoint_for("ana", "write_to_kafka", "t1", "/user/ana/testdir")
    b = checkpoint_for("ana", "write_to_kafka", "t2", "/user/ana/testdir")
    c = checkpoint_for("ana", "write_to_kafka", "t1", "/user/ana/other")
    d = checkpoint_for("ana", "read_from_kafka", "t1", "/user/ana/testdir")
    assert len({a, b, c, d}) == 4
    assert a == checkpoint_for("ana", "write_to_kafka", "t1", "/user/ana/testdir")


def test_absolute_dirs_are_normalised():
    assert resolve_hdfs_dir("/a//b/./c/", "ana", "x") == "/a/b/c"


def test_replication_factor_left_empty_means_the_clusters_default():
    assert plan_write(WRITE | {"replication_factor": None}, KAFKA, HDFS).replication_factor == "cluster-default"
    assert plan_write(WRITE | {"replication_factor": 3}, KAFKA, HDFS).replication_factor == 3


PROCESSING = {"trigger": "processingTime", "interval_seconds": 5}
LONGEST_RUN = (SPARK_JOB_TIMEOUT - SPARK_START_MARGIN).total_seconds()


@pytest.mark.parametrize("plan", [plan_write, plan_read])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"run_seconds": 0}, "can't cover one batch of interval_seconds 5"),  # stopped before its first batch
        ({"run_seconds": 4.9}, "can't cover one batch"),
        ({"run_seconds": LONGEST_RUN + 1}, "does not fit the Spark task's execution_timeout"),
        ({"run_seconds": SPARK_JOB_TIMEOUT.total_seconds()}, f"at most {LONGEST_RUN:.0f}"),
    ],
)
def test_run_seconds_must_cover_one_batch_and_fit_the_spark_tasks_timeout(plan, change, message):
    params = (WRITE if plan is plan_write else READ) | PROCESSING | change
    with pytest.raises(ValueError, match=message):
        plan(params, KAFKA, HDFS)


@pytest.mark.parametrize("run_seconds", [5, 60, LONGEST_RUN])
def test_run_seconds_from_one_batch_to_the_timeout_less_the_margin_is_accepted(run_seconds):
    assert plan_write(WRITE | PROCESSING | {"run_seconds": run_seconds}, KAFKA, HDFS).run_seconds == run_seconds


def test_run_seconds_is_not_checked_for_available_now_which_ignores_it():
    assert plan_write(WRITE | {"trigger": "availableNow", "run_seconds": 0}, KAFKA, HDFS).trigger == "availableNow"


@pytest.mark.parametrize("plan", [plan_write, plan_read])
@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("-players", "leading '-' is refused"),
        ("--help", "leading '-' is refused"),
        ("__consumer_offsets", "Kafka's internal topics"),
        ("__players", "Kafka's internal topics"),
    ],
)
def test_topics_the_job_cant_take_or_kafka_keeps_for_itself_are_refused(plan, topic, message):
    params = WRITE if plan is plan_write else READ
    with pytest.raises(ValueError, match=message):
        plan(params | {"topic": topic}, KAFKA, HDFS)


@pytest.mark.parametrize("topic", ["players-", "a-b", "_players", "p__q", "p_", "9.x", "a" * 245])
def test_other_kafka_names_are_accepted_by_the_plans_and_the_dags_param_alike(topic):
    import re

    from include.config import TOPIC_PATTERN

    assert plan_write(WRITE | {"topic": topic}, KAFKA, HDFS).topic == topic
    assert re.fullmatch(TOPIC_PATTERN, topic)


@pytest.mark.parametrize("topic", ["-players", "__players", "bad topic", "", "a" * 246, "a/b"])
def test_the_dags_topic_param_refuses_what_validate_params_refuses(topic):
    """The form (JSON schema, include/params.py) and validate_params (include/kafka/admin.py) agree."""
    from airflow.sdk import Param

    from include.params import topic_param

    param: Param = topic_param("t")["topic"]
    with pytest.raises(ValueError):
        param.resolve(topic)
    with pytest.raises(ValueError):
        plan_write(WRITE | {"topic": topic}, KAFKA, HDFS)


@pytest.mark.parametrize(
    ("hdfs_dir", "source_dir"),
    [
        ("/user/ana/a b%#", "/user/ana/a b%#"),  # not glob characters: as they are
        ("/user/ana/a[1]", r"/user/ana/a\[1\]"),
        ("/user/ana/x]{y,z}*?", r"/user/ana/x\]\{y,z\}\*\?"),
        (r"/user/ana/back\slash", r"/user/ana/back\\slash"),
    ],
)
def test_the_jobs_source_dir_is_a_glob_that_matches_only_hdfs_dir(hdfs_dir, source_dir):
    """Spark's file source globs its path: '[1]' would be a character class, an unbalanced '[' an error."""
    plan = plan_write(WRITE | {"hdfs_dir": hdfs_dir}, KAFKA, HDFS)
    assert plan.hdfs_dir == hdfs_dir
    assert plan.spark_args[1] == f"hdfs://nn:8020{source_dir}"


def test_the_webhdfs_clients_latest_marker_is_refused_in_a_path():
    with pytest.raises(ValueError, match="#LATEST"):
        plan_write(WRITE | {"hdfs_dir": "/user/ana/#LATEST"}, KAFKA, HDFS)


@pytest.mark.parametrize(
    ("error", "fails_at_once"),
    [(ValueError("partitions must be a whole number >= 1, got 0"), True), (RuntimeError("HDFS out of reach"), False)],
)
def test_params_validate_params_refuses_fail_without_a_retry_and_a_service_out_of_reach_keeps_it(error, fails_at_once):
    """A retry of refused params would refuse them again after its delay (AirflowFailException: no retry)."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.params import refused_at_once

    with pytest.raises(AirflowFailException if fails_at_once else RuntimeError) as raised:
        with refused_at_once():
            raise error
    assert str(error) in str(raised.value)
    assert isinstance(raised.value, AirflowFailException) == fails_at_once
