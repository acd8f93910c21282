"""A dead letter names its file as the write job does, whatever characters the landing folder has."""

from __future__ import annotations

import inspect
from urllib.parse import quote

from include.verify.write import dead_letter_file
from jobs import write_to_kafka


def test_dead_letters_name_the_file_decoded_once_as_the_write_job_does():
    """Spark's source log and _metadata.file_path hold the file as a URI; the job (jobs/write_to_kafka.py,
    shipped alone) and the verification both decode it once, with urllib's unquote."""
    for name in ("a b", "a%b", "a#b", "a[1]", "a%2541"):  # the last: a literal '%25' in a name, not decoded twice
        uri = f"hdfs://nn:8020/user/ana/{quote(name)}/p.csv"
        assert dead_letter_file(uri) == f"hdfs://nn:8020/user/ana/{name}/p.csv"
    assert "unquote(row.path)" in inspect.getsource(write_to_kafka.number_lines)
