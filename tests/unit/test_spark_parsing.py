"""The write job's Spark implementation of the rules, on a local SparkSession: checked against literal
expectations, and against the reference rules (include/players.py) on a corpus of hostile inputs."""

from __future__ import annotations

import json

import pytest
from pyspark.testing import assertDataFrameEqual

from include.players import parse_players as reference
from jobs.write_to_kafka import MAX_RAW_CHARS, parse_players

SCHEMA = "path string, content binary"


def files_df(spark, files: dict[str, bytes]):
    return spark.createDataFrame([(p, bytearray(c)) for p, c in files.items()], SCHEMA)


def spark_parse(spark, files: dict[str, bytes]):
    valid, dead = parse_players(files_df(spark, files))
    letters = [json.loads(r.value) | {"key": r.key} for r in dead.collect()]
    return valid, letters


def test_valid_rows_are_key_name_value_age(spark):
    valid, letters = spark_parse(spark, {"f": "name;age\nAnn;12\n  Zoë ; 007 \r\n".encode()})
    assertDataFrameEqual(valid, spark.createDataFrame([("Ann", "12"), ("Zoë", "7")], "key string, value string"))
    assert letters == []


def test_bad_rows_become_json_dead_letters_with_file_line_raw_reason(spark):
    _, letters = spark_parse(spark, {"hdfs://nn/d/f.csv": b"Ann;12\nBo;abc\n\nCy;1;2\n"})
    assert sorted(letters, key=lambda d: d["line"]) == [
        {
            "key": "hdfs://nn/d/f.csv:2",
            "file": "hdfs://nn/d/f.csv",
            "line": 2,
            "raw": "Bo;abc",
            "reason": "age is not an integer: 'abc'",
            "truncated": False,
        },
        {
            "key": "hdfs://nn/d/f.csv:4",
            "file": "hdfs://nn/d/f.csv",
            "line": 4,
            "raw": "Cy;1;2",
            "reason": "expected 2 fields, got 3",
            "truncated": False,
        },
    ]


def test_invalid_utf8_is_detected_per_line_and_kept_with_replacement_character(spark):
    valid, letters = spark_parse(spark, {"f": b"B\xffo;40\nAnn;12\n"})
    assertDataFrameEqual(valid, spark.createDataFrame([("Ann", "12")], "key string, value string"))
    assert [(d["line"], d["reason"], d["raw"]) for d in letters] == [(1, "invalid UTF-8", "B\ufffdo;40")]


def test_long_line_is_truncated_in_its_dead_letter(spark):
    _, letters = spark_parse(spark, {"f": b"y" * (MAX_RAW_CHARS + 5)})
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


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_spark_rules_agree_with_the_reference_rules(spark, name):
    path = f"hdfs://nn/in/{name}.csv"
    valid, letters = spark_parse(spark, {path: CORPUS[name]})
    ref_players, ref_dead = reference(CORPUS[name], path)
    assert sorted((r.key, r.value) for r in valid.collect()) == sorted((p.name, p.age) for p in ref_players)
    got = sorted((d["file"], d["line"], d["reason"], d["raw"], d["truncated"]) for d in letters)
    want = sorted((d.file, d.line, d.reason, d.raw, d.truncated) for d in ref_dead)
    assert got == want


def test_every_column_of_every_line_evaluates_under_ansi_mode(spark):
    # the job persists all columns of every line (foreachBatch): no expression may raise on a bad line
    from jobs.write_to_kafka import classify, split_lines

    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    rows = classify(split_lines(files_df(spark, {f"hdfs://nn/{k}": v for k, v in CORPUS.items()}))).collect()
    expected = sum(len(reference(v, k)[0]) + len(reference(v, k)[1]) for k, v in CORPUS.items())
    assert len(rows) == expected
