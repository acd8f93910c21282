"""The multiset comparison behind verify_messages: missing, unexpected and duplicated are told apart."""

from __future__ import annotations

from collections import Counter

from include.verification import MultisetDiff, sink_ranges


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


def test_sink_range_starts_where_the_query_started_but_not_before_what_the_topic_still_has():
    recorded = {"low": {"0": 5, "1": 0}, "end": {"0": 20, "1": 7}}
    assert sink_ranges(recorded, {0: 0, 1: 3}) == {"0": [5, 20], "1": [3, 7]}
