"""The driver's class-data-sharing flag: present exactly when a matching archive exists."""

from __future__ import annotations

from include import spark_cds


def test_no_archive_means_no_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    assert spark_cds.driver_java_options("-XX:+UseG1GC") == "-XX:+UseG1GC"


def test_a_matching_archive_is_passed_to_the_driver(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    archive = spark_cds.archive_path()
    archive.write_bytes(b"x")
    assert spark_cds.driver_java_options("-XX:+UseG1GC") == f"-XX:+UseG1GC -XX:SharedArchiveFile={archive}"


def test_an_archive_of_another_jvm_or_spark_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_cds, "ARCHIVE_DIR", tmp_path)
    (tmp_path / "spark-driver-0000000000000000.jsa").write_bytes(b"x")
    assert spark_cds.driver_java_options("-Xmx1g") == "-Xmx1g"


def test_the_fingerprint_follows_the_java_binary(tmp_path, monkeypatch):
    before = spark_cds.fingerprint()
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert spark_cds.fingerprint() != before
