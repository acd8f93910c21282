"""The reference rules (include/players.py), one test per rule."""

from __future__ import annotations

import pytest

from include.rows import MAX_RAW_CHARS, DeadLetter, Player, looks_binary, parse_players


def parse(data: bytes):
    return parse_players(data, "f.csv")


def test_valid_rows_become_name_and_age_string():
    players, dead = parse(b"Ann;12\nBo;40\n")
    assert players == [Player("Ann", "12"), Player("Bo", "40")]
    assert dead == []


def test_bom_is_ignored_and_crlf_lines_are_split_like_lf():
    players, dead = parse(b"\xef\xbb\xbfAnn;12\r\nBo;40\r\n")
    assert players == [Player("Ann", "12"), Player("Bo", "40")]
    assert dead == []


def test_blank_and_whitespace_lines_are_skipped_and_not_counted():
    players, dead = parse(b"\n   \n\t\r\nAnn;12\n\n")
    assert players == [Player("Ann", "12")]
    assert dead == []


@pytest.mark.parametrize("header", [b"name;age", b"NAME;Age", b"  Name ; AGE  "])
def test_first_line_header_in_any_case_is_skipped(header):
    players, dead = parse(header + b"\nAnn;12\n")
    assert players == [Player("Ann", "12")]
    assert dead == []


def test_header_text_after_line_one_is_a_bad_row():
    _, dead = parse(b"Ann;12\nname;age\n")
    assert [(d.line, d.reason) for d in dead] == [(2, "age is not an integer: 'age'")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"Ann", "expected 2 fields, got 1"),
        (b"Ann;12;x", "expected 2 fields, got 3"),
        (b";12", "empty name"),
        (b"   ;12", "empty name"),
        (b"Ann;", "empty age"),
        (b"y" * 1025 + b";3", "name too long: 1025 characters (max 1024)"),
        (b"Ann;abc", "age is not an integer: 'abc'"),
        (b"Ann;-3", "age is not an integer: '-3'"),
        (b"Ann;12.5", "age is not an integer: '12.5'"),
        (b"Ann;\xd9\xa3", "age is not an integer: '\u0663'"),  # an Arabic-Indic digit is not ASCII
        (b"Ann;151", "age out of range 0..150: '151'"),
        (b"Ann;99999999999999999999", "age out of range 0..150: '99999999999999999999'"),
        (b"B\xffo;40", "invalid UTF-8"),
    ],
)
def test_bad_rows_are_dead_lettered_with_reason(line, reason):
    players, dead = parse(b"Ok;1\n" + line + b"\n")
    assert players == [Player("Ok", "1")]
    assert len(dead) == 1
    assert (dead[0].file, dead[0].line, dead[0].reason) == ("f.csv", 2, reason)


def test_names_are_trimmed_unicode_kept_and_ages_lose_leading_zeros():
    players, _ = parse("  Kylian Mbappé \t;  007 \nZoë;0\nA;000\nB;150\n".encode())
    assert players == [Player("Kylian Mbappé", "7"), Player("Zoë", "0"), Player("A", "0"), Player("B", "150")]


def test_dead_letter_keeps_the_raw_line_without_its_line_ending():
    _, dead = parse(b"Ann;abc\r\n")
    assert dead == [DeadLetter("f.csv", 1, "Ann;abc", "age is not an integer: 'abc'", False)]


def test_a_line_longer_than_the_limit_is_truncated_and_flagged():
    _, dead = parse(b"x" * (MAX_RAW_CHARS + 10) + b"\n")
    assert dead[0].truncated is True
    assert len(dead[0].raw) == MAX_RAW_CHARS
    assert dead[0].reason == "expected 2 fields, got 1"


def test_rows_in_equal_valid_plus_dead_lettered():
    data = b"name;age\nA;1\n\nB;x\nC;2\n;3\n"
    players, dead = parse(data)
    assert (len(players), len(dead)) == (2, 2)


@pytest.mark.parametrize(
    ("sample", "binary"),
    [
        (b"Ann;12\nBo;40\n", False),
        (b"Ann;12\n" + b"\x00" * 20 + b"\n" + b"Bo;40\n" * 50, False),
        (b"\x89PNG\r\n\x1a\n....", True),
        (b"PK\x03\x04rest", True),
        (bytes(range(32)) * 100, True),
        (b"", False),
    ],
)
def test_binary_files_are_told_apart_from_text_with_bad_lines(sample, binary):
    assert looks_binary(sample) is binary
