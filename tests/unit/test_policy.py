"""What a run's params may reach is the deployment's policy: every rule of include/policy.py, without Airflow
(but for the loader, which reads Airflow's configuration)."""

from __future__ import annotations

import os

import pytest

from include.config import DEFAULT_PLAYERS_CSV
from include.connections import HdfsSettings, KafkaSettings
from include.plans import plan_read, plan_write
from include.policy import (
    DEFAULT_CONN_IDS,
    Policy,
    PolicyViolation,
    check_conn_ids,
    check_hdfs_dir,
    check_source_csv,
    env_var,
    load_policy,
)

KAFKA = KafkaSettings({"bootstrap.servers": "b1:9092"})
HDFS = HdfsSettings(namenodes=("nn",), http_port=9870, user="ana", hdfs_uri="hdfs://nn:8020")


@pytest.fixture
def roots(tmp_path):
    """An allowed folder with a CSV in it, and beside it a folder that is not allowed, holding a secret."""
    allowed, outside = tmp_path / "landing", tmp_path / "elsewhere"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "ok.csv").write_text("Ann;12\n")
    (outside / "secret.json").write_text('{"password": "x"}\n')
    return allowed, outside, Policy(source_dirs=(str(allowed),))


def test_a_file_inside_an_allowed_folder_is_taken_by_its_real_path(roots):
    allowed, _, policy = roots
    assert check_source_csv(str(allowed / "ok.csv"), policy) == os.path.realpath(allowed / "ok.csv")


def test_a_file_outside_every_allowed_folder_is_refused_naming_the_folders_and_the_setting(roots):
    allowed, outside, policy = roots
    with pytest.raises(PolicyViolation, match="outside the folders files may come from") as refused:
        check_source_csv(str(outside / "secret.json"), policy)
    assert str(allowed) in str(refused.value)
    assert "AIRFLOW__KAFKA_SPARK_AIRFLOW__ALLOWED_SOURCE_DIRS" in str(refused.value)


def test_dot_dot_is_refused_even_when_it_lands_back_inside(roots):
    allowed, _, policy = roots
    with pytest.raises(PolicyViolation, match=r"'\.\.' part"):
        check_source_csv(f"{allowed}/../landing/ok.csv", policy)


def test_a_symlink_out_of_an_allowed_folder_is_refused(roots):
    allowed, outside, policy = roots
    (allowed / "link.csv").symlink_to(outside / "secret.json")
    with pytest.raises(PolicyViolation, match=r"resolves to .*outside the folders"):
        check_source_csv(str(allowed / "link.csv"), policy)
    (allowed / "dirlink").symlink_to(outside)
    with pytest.raises(PolicyViolation, match="outside the folders"):
        check_source_csv(str(allowed / "dirlink" / "secret.json"), policy)


def test_a_symlink_within_an_allowed_folder_is_taken_as_its_target(roots):
    allowed, _, policy = roots
    (allowed / "alias.csv").symlink_to(allowed / "ok.csv")
    assert check_source_csv(str(allowed / "alias.csv"), policy) == os.path.realpath(allowed / "ok.csv")


def test_an_allowed_folder_reached_through_a_symlink_still_counts(roots, tmp_path):
    allowed, _, _ = roots
    (tmp_path / "via").symlink_to(allowed)
    assert check_source_csv(str(allowed / "ok.csv"), Policy(source_dirs=(str(tmp_path / "via"),)))


def test_relative_missing_and_empty_paths_are_refused(roots):
    allowed, _, policy = roots
    with pytest.raises(PolicyViolation, match="must be an absolute path"):
        check_source_csv("ok.csv", policy)
    with pytest.raises(PolicyViolation, match="does not exist"):
        check_source_csv(str(allowed / "nope.csv"), policy)
    with pytest.raises(PolicyViolation, match="source_csv is empty"):
        check_source_csv(" ", policy)
    with pytest.raises(PolicyViolation, match="source_csv is empty"):
        check_source_csv(None, policy)


def test_the_allowed_folder_itself_is_not_a_file_to_ingest(roots):
    allowed, _, policy = roots
    with pytest.raises(PolicyViolation, match="outside the folders"):
        check_source_csv(str(allowed), policy)


def test_hidden_names_below_an_allowed_folder_are_refused(roots):
    """Keys and secrets live under hidden names (.ssh, .stack/secrets): even an allowed folder that holds one,
    such as a project root, does not expose them."""
    allowed, _, policy = roots
    (allowed / ".stack" / "secrets").mkdir(parents=True)
    (allowed / ".stack" / "secrets" / "kafka-secure.json").write_text("{}")
    (allowed / ".env.csv").write_text("x;1\n")
    with pytest.raises(PolicyViolation, match=r"hidden name \('\.stack'\)"):
        check_source_csv(str(allowed / ".stack" / "secrets" / "kafka-secure.json"), policy)
    with pytest.raises(PolicyViolation, match="hidden name"):
        check_source_csv(str(allowed / ".env.csv"), policy)


def test_a_denied_folder_inside_an_allowed_one_is_refused(roots):
    allowed, _, _ = roots
    (allowed / "stack").mkdir()
    (allowed / "stack" / "secrets.csv").write_text("x;1\n")
    policy = Policy(source_dirs=(str(allowed),), denied_source_dirs=(str(allowed / "stack"),))
    with pytest.raises(PolicyViolation, match="which is denied"):
        check_source_csv(str(allowed / "stack" / "secrets.csv"), policy)


def test_an_allowed_folder_that_does_not_exist_allows_nothing(tmp_path):
    (tmp_path / "x.csv").write_text("a;1\n")
    with pytest.raises(PolicyViolation, match="outside"):
        check_source_csv(str(tmp_path / "x.csv"), Policy(source_dirs=(str(tmp_path / "missing"),)))


def test_the_default_folders_are_include_data_and_the_landing_folder_under_airflow_home(tmp_path):
    policy = Policy.default(str(tmp_path))
    assert policy.source_dirs == (str(DEFAULT_PLAYERS_CSV.parent), str(tmp_path / "landing"))
    assert check_source_csv(str(DEFAULT_PLAYERS_CSV), policy) == os.path.realpath(DEFAULT_PLAYERS_CSV)
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "team.csv").write_text("Ann;12\n")
    assert check_source_csv(str(tmp_path / "landing" / "team.csv"), policy)
    (tmp_path / "other.csv").write_text("Ann;12\n")
    with pytest.raises(PolicyViolation):
        check_source_csv(str(tmp_path / "other.csv"), policy)


# ---- HDFS ----------------------------------------------------------------------------------------------------

POLICY = Policy(source_dirs=(str(DEFAULT_PLAYERS_CSV.parent),))


@pytest.mark.parametrize("path", ["/user/ana/testdir", "/user/ana/a/b c/%#[x]"])
def test_hdfs_dirs_below_the_users_home_are_allowed(path):
    assert check_hdfs_dir(path, "ana", "hdfs_dir", POLICY) == path


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/user/bob/testdir", "not under an HDFS folder runs may write under \\(/user/ana\\)"),
        ("/user/ana", "not under"),  # the home itself: a run writes below it
        ("/user/anastasia/x", "not under"),  # a prefix of the name is not the folder
        ("/tmp/x", "not under"),
        ("/user/ana/checkpoints/write_to_kafka/t/x", "holds the queries' checkpoints"),
        ("/user/ana/checkpoints", "holds the queries' checkpoints"),
    ],
)
def test_hdfs_dirs_elsewhere_are_refused(path, message):
    with pytest.raises(PolicyViolation, match=message):
        check_hdfs_dir(path, "ana", "hdfs_dir", POLICY)


def test_hdfs_roots_are_the_deployments_with_the_user_filled_in():
    policy = Policy(source_dirs=(), hdfs_roots=("/data/landing", "/user/{user}/runs"))
    assert check_hdfs_dir("/data/landing/t1", "ana", "hdfs_dir", policy)
    assert check_hdfs_dir("/user/ana/runs/t1", "ana", "hdfs_dir", policy)
    with pytest.raises(PolicyViolation, match="/data/landing, /user/ana/runs"):
        check_hdfs_dir("/user/ana/testdir", "ana", "hdfs_dir", policy)


# ---- Kafka connections -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dag", "job", "admin"),
    [
        ("write_to_kafka", "kafka_default", "kafka_default"),
        ("write_to_kafka", "kafka_secure_writer", "kafka_secure_admin"),
        ("read_from_kafka", "kafka_default", "kafka_default"),
        ("read_from_kafka", "kafka_secure_reader", "kafka_secure_admin"),
    ],
)
def test_the_connections_the_dags_name_are_allowed_by_default(dag, job, admin):
    ids = {"kafka_conn_id": job, "kafka_admin_conn_id": admin}
    assert check_conn_ids(dag, ids, POLICY) == ids


@pytest.mark.parametrize(
    ("dag", "job", "admin", "message"),
    [
        # the job as the admin principal: it could write anywhere
        ("write_to_kafka", "kafka_secure_admin", "kafka_secure_admin", "kafka_conn_id 'kafka_secure_admin' .* job"),
        ("read_from_kafka", "kafka_secure_admin", "kafka_secure_admin", "kafka_conn_id 'kafka_secure_admin'"),
        # each DAG's job its own principal only
        ("read_from_kafka", "kafka_secure_writer", "kafka_secure_admin", "kafka_conn_id 'kafka_secure_writer'"),
        ("write_to_kafka", "kafka_secure_reader", "kafka_secure_admin", "kafka_conn_id 'kafka_secure_reader'"),
        # an admin role with a job's principal, or a connection nobody listed
        ("write_to_kafka", "kafka_secure_writer", "kafka_secure_writer", "kafka_admin_conn_id .* admin role"),
        ("write_to_kafka", "kafka_default", "some_other_conn", "kafka_admin_conn_id 'some_other_conn'"),
    ],
)
def test_other_connections_are_refused_naming_the_role_and_the_setting(dag, job, admin, message):
    with pytest.raises(PolicyViolation, match=message) as refused:
        check_conn_ids(dag, {"kafka_conn_id": job, "kafka_admin_conn_id": admin}, POLICY)
    assert "AIRFLOW__KAFKA_SPARK_AIRFLOW__" in str(refused.value)


# ---- through the plans: refused in validate_params -------------------------------------------------------


def test_plan_write_applies_every_rule_of_the_policy(roots):
    allowed, outside, policy = roots
    params = {"source_csv": str(allowed / "ok.csv"), "hdfs_dir": "testdir", "partitions": 1}
    assert plan_write(params, KAFKA, HDFS, policy).source_csv == os.path.realpath(allowed / "ok.csv")
    for change, message in [
        ({"source_csv": str(outside / "secret.json")}, "outside the folders"),
        ({"hdfs_dir": "../bob/x"}, r"'\.\.' part"),
        ({"hdfs_dir": "/user/bob/x"}, "not under an HDFS folder"),
        ({"kafka_conn_id": "kafka_secure_admin"}, "not a connection write_to_kafka's job role may use"),
    ]:
        with pytest.raises(ValueError, match=message):
            plan_write(params | change, KAFKA, HDFS, policy)


def test_plan_read_applies_the_policy_to_output_dir_and_connections():
    assert plan_read({"topic": "t"}, KAFKA, HDFS, POLICY).output_dir == "/user/ana/t-archive"
    for change, message in [
        ({"output_dir": "/user/hdfs/x"}, "output_dir '/user/hdfs/x' is not under"),
        ({"output_dir": "a/../../../x"}, r"'\.\.' part"),
        ({"kafka_conn_id": "kafka_secure_writer"}, "not a connection read_from_kafka's job role may use"),
    ]:
        with pytest.raises(ValueError, match=message):
            plan_read({"topic": "t"} | change, KAFKA, HDFS, POLICY)


# ---- the loader ------------------------------------------------------------------------------------------


def test_the_policy_loads_from_airflow_config_with_safe_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for key in ("allowed_source_dirs", "denied_source_dirs", "allowed_hdfs_roots", "write_job_conn_ids"):
        monkeypatch.delenv(env_var(key), raising=False)
    policy = load_policy()
    assert policy.source_dirs == (str(DEFAULT_PLAYERS_CSV.parent), str(tmp_path / "landing"))
    assert policy.hdfs_roots == ("/user/{user}",)
    assert policy.conn_ids == DEFAULT_CONN_IDS
    assert policy.denied_source_dirs == ()

    monkeypatch.setenv(env_var("allowed_source_dirs"), f"{tmp_path}/a, {tmp_path}/b")
    monkeypatch.setenv(env_var("allowed_hdfs_roots"), "/data/in")
    monkeypatch.setenv(env_var("write_job_conn_ids"), "kafka_team_writer")
    policy = load_policy()
    assert policy.source_dirs == (f"{tmp_path}/a", f"{tmp_path}/b")
    assert policy.hdfs_roots == ("/data/in",)
    assert policy.conn_ids[("write_to_kafka", "job")] == ("kafka_team_writer",)
    assert policy.conn_ids[("write_to_kafka", "admin")] == DEFAULT_CONN_IDS[("write_to_kafka", "admin")]


# ---- HDFS user -------------------------------------------------------------------------------------------


def test_a_webhdfs_connection_without_login_is_an_error_not_the_hdfs_superuser():
    from types import SimpleNamespace

    from include.connections import hdfs_settings_from

    def conn(login):
        return SimpleNamespace(host="nn", port=9870, login=login, extra_dejson={})

    assert hdfs_settings_from(conn("ana"), "webhdfs_default").user == "ana"
    for login in (None, "", "  "):
        with pytest.raises(ValueError, match="'webhdfs_default' has no login: set it to the HDFS user"):
            hdfs_settings_from(conn(login), "webhdfs_default")
