"""write_to_kafka's streamed comparison: partitioned digests, then the rows of differing buckets named.

The digests are checked against a plain Counter comparison (collections.Counter on the same rows) on random
multisets, including binary keys and values; the naming step is forced into many passes with a tiny cap.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from include.verify import write as vw
from include.verify.diff import MultisetDiff


def rows(valid, dead=()):
    return [(vw.VALID, vw.row_item(k, v)) for k, v in valid] + [(vw.DEAD, vw.letter_item(*d)) for d in dead]


def run(expected, actual, cap=vw.NAMING_ROWS):
    e, a = vw.digest(iter(expected)), vw.digest(iter(actual))
    return vw.compare(e, a, lambda: iter(expected), lambda: iter(actual), ["f"], cap)


def random_row(rng):
    key = None if rng.random() < 0.05 else rng.randbytes(rng.randint(0, 6))
    return key, rng.randbytes(rng.randint(0, 4))


@pytest.mark.parametrize("cap", [vw.NAMING_ROWS, 7])
@pytest.mark.parametrize("seed", range(6))
def test_the_streamed_comparison_agrees_with_a_plain_counter_comparison(seed, cap):
    rng = random.Random(seed)
    expected = [random_row(rng) for _ in range(rng.randint(0, 400))]
    actual = list(expected)
    rng.shuffle(actual)
    for _ in range(rng.randint(0, 5)):
        if actual:
            actual.pop(rng.randrange(len(actual)))  # missing
    for _ in range(rng.randint(0, 5)):
        actual.append(rng.choice(expected) if expected and rng.random() < 0.5 else random_row(rng))  # dup/extra
    report = run(rows(expected), rows(actual), cap)
    plain = MultisetDiff(Counter(expected), Counter(actual))
    valid = report.kinds[vw.VALID]
    assert (valid.missing, valid.unexpected, valid.duplicates) == (
        sum(plain.missing.values()),
        sum(plain.unexpected.values()),
        sum(plain.duplicates.values()),
    )
    assert (valid.expected, valid.actual) == (len(expected), len(actual))
    assert report.complete == (not plain.missing and not plain.unexpected)


def test_equal_multisets_in_any_order_need_no_naming_pass():
    expected = rows([(b"Ann", b"12"), (b"Bo", b"40"), (b"Ann", b"12")], [("f", 3, "empty age")])
    report = run(expected, list(reversed(expected)))
    assert report.complete and report.naming_passes == 0 and report.duplicates == 0


def test_a_missing_row_a_duplicate_and_an_unexpected_one_are_named():
    expected = rows([(b"Ann", b"12"), (b"Bo", b"40")], [("f", 3, "empty age")])
    actual = rows([(b"Ann", b"12"), (b"Ann", b"12"), (None, b"\xff\xfe")], [("f", 4, "empty age")])
    summary = run(expected, actual).summary()
    assert (summary["missing"], summary["unexpected"], summary["duplicates"]) == (2, 2, 1)
    text = "\n".join(summary["diff"])
    assert "- 'Bo' | '40'" in text
    assert "+ <null> | '\\\\xff\\\\xfe'" in text  # bytes that are not UTF-8 shown escaped, not replaced
    assert "- 'f' | 3 | 'empty age'" in text and "+ 'f' | 4 | 'empty age'" in text


def test_two_payloads_that_decode_to_the_same_replacement_text_are_told_apart():
    expected = rows([(b"k", b"\xff")])
    actual = rows([(b"k", b"\xfe")])
    assert not run(expected, actual).complete


def test_null_and_empty_are_different_keys():
    assert not run(rows([(None, b"1")]), rows([(b"", b"1")])).complete


def test_a_bucket_larger_than_the_cap_is_cut_into_passes_each_within_it():
    expected_digest = vw.digest(iter(rows([(b"k%d" % i, b"1") for i in range(1000)])))
    actual_digest = vw.digest(iter([]))
    passes = vw.naming_passes(expected_digest, actual_digest, cap=50)
    sizes = []
    for chosen in passes:
        size = 0
        for (kind, bucket), (parts, chosen_parts) in chosen.items():
            rows_in_bucket = expected_digest[kind].counts[bucket] + actual_digest[kind].counts[bucket]
            size += rows_in_bucket / parts * len(chosen_parts)
        sizes.append(size)
    assert max(sizes) <= 50
    covered = {(k, b, p) for c in passes for (k, b), (_, parts) in c.items() for p in parts}
    differing = expected_digest[vw.VALID].differing(actual_digest[vw.VALID])
    assert {(k, b) for k, b, _ in covered} == {(vw.VALID, b) for b in differing}


def test_an_expectation_survives_xcom_json():
    import json

    digests = vw.digest(iter(rows([(b"Ann", b"12")], [("f", 1, "x")])))
    expectation = vw.Expectation(3, ["hdfs://nn/x.csv"], digests)
    back = vw.Expectation.from_dict(json.loads(json.dumps(expectation.to_dict())))
    assert back.counts == (1, 1) and back.digests == digests and back.batch_after == 3


def test_a_dead_letter_that_is_not_json_is_an_item_not_a_crash():
    assert b"not a dead letter" in vw._letter(b"\x00garbage")
    assert vw._letter(None) == vw.letter_item(None, None, None)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"\xef\xbb\xbfname;age\r\nAnn;12\r\n\r\nBo;x\n\xff;1",
        b"Ann;12\nBo;13",
        b"a;1\n\n\n;\n \t\n\x00;2\r\r\n",
    ],
)
def test_the_file_read_line_by_line_gives_what_the_whole_file_gives(data):
    import io

    from include.rows import parse_players, scan_players

    streamed = list(scan_players(io.BufferedReader(io.BytesIO(data)), "f"))
    assert streamed == list(scan_players(data.split(b"\n"), "f"))
    players, dead = parse_players(data, "f")
    assert sorted(map(repr, streamed)) == sorted(map(repr, players + dead))
