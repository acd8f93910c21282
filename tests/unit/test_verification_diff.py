"""The multiset comparison behind verify_messages: missing, unexpected and duplicated are told apart."""

from __future__ import annotations

from collections import Counter

from include.verify.diff import MultisetDiff
from include.verify.read import offsets_gone, run_ranges


def test_exact_match_has_no_diff():
    diff = MultisetDiff(Counter({("Ann", "12"): 2}), Counter({("Ann", "12"): 2}))
    assert not diff.missing and not diff.unexpected and not diff.duplicates
    assert diff.lines("rows") == []


def test_a_missing_row_is_missing_and_an_extra_copy_is_a_duplicate():
    diff = MultisetDiff(Counter({("Ann", "12"): 1, ("Bo", "40"): 1}), Counter({("Ann", "12"): 3}))
    assert diff.missing == Counter({("Bo", "40"): 1})
    assert diff.duplicates == Counter({("Ann", "12"): 2})
    assert not diff.unexpected
    assert any("'Bo' | '40'" in line for line in diff.lines("rows"))


def test_a_row_nobody_expected_is_unexpected_not_a_duplicate():
    diff = MultisetDiff(Counter(), Counter({(None, "x"): 1}))
    assert diff.unexpected == Counter({(None, "x"): 1})
    assert "<null> | 'x'" in "\n".join(diff.lines("rows"))


def test_a_run_range_starts_where_the_checkpoint_stood_and_ends_where_it_stands_now():
    assert run_ranges({0: 7, 1: 3}, None, {0: 20, 1: 3}, {"0": 0, "1": 0}, {}) == {0: (7, 20)}


def test_a_new_querys_range_starts_where_spark_started_it_but_not_before_what_the_topic_still_had():
    assert run_ranges(None, {0: -2, 1: 4}, {0: 9, 1: 9}, {"0": 5, "1": 0}, {}) == {0: (5, 9), 1: (4, 9)}


def test_a_run_range_starts_after_an_accepted_data_loss():
    assert run_ranges({0: 2}, None, {0: 30}, {"0": 0}, {"0": 12}) == {0: (12, 30)}


def test_offsets_deleted_by_retention_are_counted():
    assert offsets_gone({0: 10, 1: 4}, {0: (25, 40), 1: (0, 9)}) == [
        "partition 0: offsets 10..24 (15 message(s)) were deleted"
    ]


def test_a_recreated_topic_is_recognised():
    gone = offsets_gone({0: 50}, {0: (0, 3)})
    assert gone == [
        "partition 0: the query had read up to offset 50 but the topic now ends at 3 (was it deleted and recreated?)"
    ]


def test_a_new_query_has_lost_nothing():
    assert offsets_gone(None, {0: (5, 9)}) == []
