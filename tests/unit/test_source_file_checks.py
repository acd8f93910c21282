"""The local CSV is checked before anything starts; each way it can be wrong has its own message."""

from __future__ import annotations

import pytest

from include.hdfs.ingest import SourceFileError, check_source_file, content_name


def test_a_good_file_passes(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("Ann;12\n")
    assert check_source_file(str(f)) == f


def test_an_empty_file_is_fine(tmp_path):
    f = tmp_path / "empty.csv"
    f.write_bytes(b"")
    assert check_source_file(str(f)) == f


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: "", "source_csv is empty"),
        (lambda d: str(d / "nope.csv"), "does not exist"),
        (lambda d: str(d), "is a directory"),
    ],
)
def test_missing_empty_or_directory_paths_are_refused(tmp_path, make, message):
    with pytest.raises(SourceFileError, match=message):
        check_source_file(make(tmp_path))


def test_a_binary_file_is_refused_as_binary(tmp_path):
    f = tmp_path / "photo.csv"
    f.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    with pytest.raises(SourceFileError, match="binary file"):
        check_source_file(str(f))


def test_a_file_that_fails_to_read_is_refused_with_the_os_error():
    # /proc/self/mem is a regular, "readable" file whose read fails with EIO: a real unreadable file, even as root
    with pytest.raises(SourceFileError, match="can't be read: Input/output error"):
        check_source_file("/proc/self/mem")


def test_content_names_follow_content_not_name(tmp_path):
    a = content_name(tmp_path / "players.csv", "ab" * 32)
    assert a == f"players-{'ab' * 8}.csv"
    assert content_name(tmp_path / "players.csv", "cd" * 32) != a
    assert content_name(tmp_path / "we ird!.txt", "ab" * 32).startswith("we_ird-")
