"""The write job's Spark implementation of the rules, on a local SparkSession reading real files: checked
against literal expectations, and against the reference rules (include/players.py) on a corpus of hostile
inputs, read whole and in many small splits."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from include.rows import parse_players as reference
from jobs.write_to_kafka import MAX_RAW_CHARS, parse_lines, parse_players, raw_lines, read_text, to_messages


def write_files(directory, files: dict[str, bytes]) -> dict[str, str]:
    """Write each file; returns name -> the path as Spark names it in the rows (file:/...)."""
    paths = {}
    for name, content in files.items():
        (directory / name).write_bytes(content)
        paths[name] = f"file:{directory / name}"
    return paths


def spark_parse(spark, directory, files: dict[str, bytes]):
    write_files(directory, files)
    valid, dead = parse_players(spark, read_text(spark.read).load(str(directory)))
    letters = [json.loads(r.value) | {"key": r.key} for r in dead.collect()]
    return valid, letters


def parse_dir(spark, directory):
    """The write job's parse_lines over every file in ``directory``: (rows, files, splits)."""
    return parse_lines(spark, raw_lines(read_text(spark.read).load(str(directory))))


@contextmanager
def splits_of(spark, max_bytes: int):
    """Spark reads files in splits of at most ``max_bytes`` (several tasks per file, as for a large file)."""
    keys = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    before = {k: spark.conf.get(k) for k in keys}
    for k in keys:
        spark.conf.set(k, str(max_bytes))
    try:
        yield
    finally:
        for k, v in before.items():
            spark.conf.set(k, v)


def test_valid_rows_are_key_name_value_age(spark, tmp_path):
    valid, letters = spark_parse(spark, tmp_path, {"f": "name;age\nAnn;12\n  Zoë ; 007 \r\n".encode()})
    assertDataFrameEqual(valid, spark.createDataFrame([("Ann", "12"), ("Zoë", "7")], "key string, value string"))
    assert letters == []


def test_bad_rows_become_json_dead_letters_with_file_line_raw_reason(spark, tmp_path):
    _, letters = spark_parse(spark, tmp_path, {"f.csv": b"Ann;12\nBo;abc\n\nCy;1;2\n"})
    file = f"file:{tmp_path / 'f.csv'}"
    assert sorted(letters, key=lambda d: d["line"]) == [
        {
            "key": f"{file}:2",
            "file": file,
            "line": 2,
            "raw": "Bo;abc",
            "reason": "age is not an integer: 'abc'",
            "truncated": False,
        },
        {
            "key": f"{file}:4",
            "file": file,
            "line": 4,
            "raw": "Cy;1;2",
            "reason": "expected 2 fields, got 3",
            "truncated": False,
        },
    ]


def test_invalid_utf8_is_detected_per_line_and_kept_with_replacement_character(spark, tmp_path):
    valid, letters = spark_parse(spark, tmp_path, {"f": b"B\xffo;40\nAnn;12\n"})
    assertDataFrameEqual(valid, spark.createDataFrame([("Ann", "12")], "key string, value string"))
    assert [(d["line"], d["reason"], d["raw"]) for d in letters] == [(1, "invalid UTF-8", "B\ufffdo;40")]


def test_long_line_is_truncated_in_its_dead_letter(spark, tmp_path):
    _, letters = spark_parse(spark, tmp_path, {"f": b"y" * (MAX_RAW_CHARS + 5)})
    assert letters[0]["truncated"] is True
    assert len(letters[0]["raw"]) == MAX_RAW_CHARS


CORPUS = {
    "plain": b"Ann;12\nBo;40\n",
    "bom_crlf_header": b"\xef\xbb\xbfName;Age\r\nAnn;12\r\nBo;x\r\n",
    "blank_lines": b"\n \n\t\nAnn;1\n\n",
    "header_later": b"Ann;1\nname;age\n",
    "field_counts": b"A\nA;1;2\n;\n;;\nA;1;\n",
    "names": "  Kylian Mbappé ;24\n\tLuka Modrić\t;37\n李;5\n \u00a0;3\n".encode(),
    "ages": b"A;0\nB;000\nC;150\nD;151\nE;0151\nF;-1\nG;+1\nH;1e3\nI;12.0\nJ; 12 \nK;99999999999\n",
    "unicode_digits": "A;\u0663\nB;\uff11\n".encode(),
    "nul_and_control": b"\x00\x00\x00\nA;\x01\nB\x00;3\n",
    "invalid_utf8": b"ok;1\n\xff\xfe;2\nA;\xc3\n\xe2\x82;3\nC;4\n",
    "cr_only_inside": b"A;1\rB;2\n",
    "no_final_newline": b"A;1\nB;2",
    "empty": b"",
    "only_header": b"name;age\n",
    "long_line": b"Z;" + b"9" * 70000 + b"\n",
    "long_names": b"n" * 1024 + b";1\n" + "é".encode() * 1025 + b";2\n" + b"x" * 1_000_000 + b";5\n",
}


def assert_agrees_with_reference(spark, directory, files: dict[str, bytes]) -> None:
    paths = write_files(directory, files)
    valid, letters = spark_parse(spark, directory, {})
    want_valid, want_dead = [], []
    for name, content in files.items():
        players, dead = reference(content, paths[name])
        want_valid += [(p.name, p.age) for p in players]
        want_dead += [(d.file, d.line, d.reason, d.raw, d.truncated) for d in dead]
    assert sorted((r.key, r.value) for r in valid.collect()) == sorted(want_valid)
    got = sorted((d["file"], d["line"], d["reason"], d["raw"], d["truncated"]) for d in letters)
    assert got == sorted(want_dead)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_spark_rules_agree_with_the_reference_rules(spark, tmp_path, name):
    assert_agrees_with_reference(spark, tmp_path, {f"{name}.csv": CORPUS[name]})


def mixed_file(lines: int) -> bytes:
    """A BOM, a header, then valid, bad, blank, CRLF and invalid-UTF-8 lines of varying lengths."""
    out = [b"\xef\xbb\xbfname;age"]
    for i in range(lines):
        out.append(
            [
                f"Player {i} Ñandú;{i % 151}".encode(),
                f"bad {i}".encode(),
                b"",
                f"  Zoë {i} ; 0{i % 99} \r".encode(),
                b"B\xff" + str(i).encode() + b";3",
                ("x" * (i % 300)).encode() + b";1;2",
            ][i % 6]
        )
    return b"\n".join(out) + b"\n"


def test_line_numbers_hold_when_a_file_is_read_in_many_splits(spark, tmp_path):
    files = {"a.csv": mixed_file(600), "b.csv": mixed_file(7), "c.csv": b"Ann;1"}
    write_files(tmp_path, files)
    with splits_of(spark, 512):
        _, _, splits = parse_dir(spark, tmp_path)
        assert splits > 20  # the test reads the files the way a large file is read: in many splits
        assert_agrees_with_reference(spark, tmp_path, files)


def test_rows_of_one_key_reach_kafka_in_file_order_when_several_tasks_write(spark, tmp_path):
    # 3,000 rows of 7 keys, in ~40 splits: each key's rows must be written by one task (one partition), in
    # line order, so that Kafka gets them in file order although several tasks write at once
    rows = [f"k{i % 7};{i % 151}" for i in range(3000)]
    write_files(tmp_path, {"p.csv": "\n".join(rows).encode()})
    with splits_of(spark, 512):
        parsed, _, splits = parse_dir(spark, tmp_path)
        assert splits > 20
        messages = to_messages(parsed, "t", "t.dlq", in_file_order=True)
        got = messages.select(F.spark_partition_id().alias("task"), "key", "value").collect()
    for k in range(7):
        mine = [r for r in got if r.key == f"k{k}"]
        assert len({r.task for r in mine}) == 1, f"k{k} is written by several tasks"
        assert [r.value for r in mine] == [str(i % 151) for i in range(3000) if i % 7 == k]


def test_a_dead_letter_names_its_file_as_hadoop_does_whatever_the_characters(spark, tmp_path):
    name = "my players+1 %20 é#x [v2].csv"
    _, letters = spark_parse(spark, tmp_path, {name: b"Ann;x\n"})
    assert [(d["file"], d["line"]) for d in letters] == [(f"file:{tmp_path / name}", 1)]


def test_every_column_of_every_line_evaluates_under_ansi_mode(spark, tmp_path):
    # every column of every line is computed before the rows are split between the two topics: no
    # expression may raise on a bad line
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    paths = write_files(tmp_path, {f"{k}.csv": v for k, v in CORPUS.items()})
    rows, _, _ = parse_dir(spark, tmp_path)
    expected = sum(
        len(reference(v, paths[f"{k}.csv"])[0]) + len(reference(v, paths[f"{k}.csv"])[1]) for k, v in CORPUS.items()
    )
    assert len(rows.collect()) == expected
