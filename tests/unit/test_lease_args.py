"""How the checkpoint lease reaches the Spark jobs: the operator finds the job's checkpoint in its arguments, the
jobs take --lease with its owner, and the job's default ttl is the library's."""

from __future__ import annotations

import pytest

from include import config
from jobs import read_from_kafka, write_to_kafka
from plugins.kafka_spark_submit import option_value

WRITE_ARGS = ["--source-dir", "hdfs://nn:8020/in", "--topic", "t", "--bootstrap-servers", "b:9092"]
WRITE_ARGS += ["--checkpoint", "hdfs://nn:8020/user/u/checkpoints/q"]


def test_operator_finds_the_jobs_checkpoint_in_its_arguments():
    assert option_value(WRITE_ARGS, "--checkpoint") == "hdfs://nn:8020/user/u/checkpoints/q"
    assert option_value(["--topic", "t"], "--checkpoint") is None
    assert option_value(["--checkpoint"], "--checkpoint") is None


def test_jobs_take_a_lease_with_its_owner_and_run_without_one():
    args = write_to_kafka.parse_args([*WRITE_ARGS, "--lease", "hdfs://nn:8020/x/_lease.json", "--lease-owner", "ab"])
    assert (args.lease, args.lease_owner) == ("hdfs://nn:8020/x/_lease.json", "ab")
    assert write_to_kafka.parse_args(WRITE_ARGS).lease is None  # standalone: no lease, no watchdog


@pytest.mark.parametrize("extra", [["--lease", "hdfs://nn/x"], ["--lease-owner", "ab"]])
def test_a_lease_without_its_owner_or_an_owner_without_a_lease_is_refused(extra, capsys):
    with pytest.raises(SystemExit):
        write_to_kafka.parse_args([*WRITE_ARGS, *extra])
    assert "--lease and --lease-owner go together" in capsys.readouterr().err


def test_jobs_default_lease_ttl_is_the_librarys(monkeypatch):
    read_args = ["--topic", "t", "--bootstrap-servers", "b", "--output-dir", "o", "--checkpoint", "c"]
    default = float("30")
    assert read_from_kafka.parse_args(read_args).lease_ttl_seconds == default
    assert write_to_kafka.parse_args(WRITE_ARGS).lease_ttl_seconds == default
    monkeypatch.delenv("LEASE_TTL_SECONDS", raising=False)
    import importlib

    assert importlib.reload(config).LEASE_TTL_S == default
