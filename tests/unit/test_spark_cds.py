"""The driver's class-data-sharing flag: present exactly when a matching archive exists."""

from __future__ import annotations

from devstack import cds as spark_cds


def test_no_archive_means_no_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    assert spark_cds.java_option() == ""


def test_a_matching_archive_is_passed_to_the_driver(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    archive = spark_cds.archive_path()
    archive.write_bytes(b"x")
    assert spark_cds.java_option() == f"-XX:SharedArchiveFile={archive}"


def test_an_archive_of_another_jvm_or_spark_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    (tmp_path / "spark-driver-0000000000000000.jsa").write_bytes(b"x")
    assert spark_cds.java_option() == ""


def test_the_fingerprint_follows_the_java_binary(tmp_path, monkeypatch):
    before = spark_cds.fingerprint()
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert spark_cds.fingerprint() != before


def test_an_archive_without_a_training_record_counts_as_basic_and_is_retrained_on_the_stack(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    archive = spark_cds.archive_path()
    archive.write_bytes(b"x")
    assert spark_cds.training_of(archive) is None
    assert spark_cds.is_up_to_date(archive, on_stack=False)
    assert not spark_cds.is_up_to_date(archive, on_stack=True)


def test_a_stack_trained_archive_serves_both_asks(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    archive = spark_cds.archive_path()
    archive.write_bytes(b"x")
    archive.with_suffix(".json").write_text('{"training": "stack"}')
    assert spark_cds.training_of(archive) == spark_cds.STACK
    assert spark_cds.is_up_to_date(archive, on_stack=True)
    assert spark_cds.is_up_to_date(archive, on_stack=False)


def test_a_training_record_without_its_archive_is_not_up_to_date(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    archive = spark_cds.archive_path()
    archive.with_suffix(".json").write_text('{"training": "stack"}')
    assert not spark_cds.is_up_to_date(archive, on_stack=False)


def test_the_fingerprint_follows_a_reinstalled_jar_of_the_same_name_and_size(tmp_path, monkeypatch):
    """The JVM refuses the archive when a jar's modification time changed (a reinstall of the same pyspark):
    the archive's name must change with it, or every driver silently runs without it."""
    import os

    jar = tmp_path / "jars" / "spark-core.jar"
    jar.parent.mkdir()
    jar.write_bytes(b"jar")
    os.utime(jar, (1_700_000_000, 1_700_000_000))
    monkeypatch.setattr(spark_cds, "_spark_home", lambda: tmp_path)
    before = spark_cds.fingerprint()
    os.utime(jar, (1_700_000_100, 1_700_000_100))
    assert spark_cds.fingerprint() != before
    os.utime(jar, (1_700_000_000, 1_700_000_000))
    assert spark_cds.fingerprint() == before
