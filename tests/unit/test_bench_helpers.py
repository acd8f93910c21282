"""The benchmark's pure helpers: percentiles, the perf tools' output, sink commit times, generated data.
(Speed figures live only in `make bench`; nothing here is timed.)"""

from __future__ import annotations

import pytest

from bench import players_data, stats
from include.rows import parse_players

PRODUCER_OUTPUT = """\
343721 records sent, 68744.2 records/sec (1.44 MB/sec), 180.5 ms avg latency, 590.0 ms max latency.
2000000 records sent, 612745.1 records/sec (12.85 MB/sec), 25.61 ms avg latency, 310.00 ms max latency, \
21 ms 50th, 58 ms 95th, 71 ms 99th, 80 ms 99.9th.
"""

CONSUMER_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-25 08:59:25:101, 2026-11-25 08:59:26:912, 41.9617, 23.1716, 2000000, 1104389.8, 312, 1499, 27.9931, 1334222.8
"""


def test_percentile_interpolates_between_closest_ranks_like_numpy():
    values = [40, 10, 30, 20]
    assert stats.percentile(values, 0) == 10
    assert stats.percentile(values, 100) == 40
    assert stats.percentile(values, 50) == 25
    assert stats.percentile(values, 99) == pytest.approx(39.7)
    assert stats.percentile([7], 99) == 7


def test_percentile_refuses_empty_input_and_q_out_of_range():
    with pytest.raises(ValueError, match="empty"):
        stats.percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        stats.percentile([1], 101)


def test_rate_and_ratio_are_none_when_not_measurable():
    assert stats.rate(100, 2.0) == 50
    assert stats.rate(100, 0) is None
    assert stats.ratio(50, 100) == 0.5
    assert stats.ratio(None, 100) is None
    assert stats.ratio(50, None) is None


def test_producer_perf_summary_is_its_last_line_not_an_interim_report():
    summary = stats.parse_producer_perf(PRODUCER_OUTPUT)
    assert summary["records"] == 2_000_000
    assert summary["records_per_s"] == 612745.1
    assert summary["p99_ms"] == 71
    assert summary["max_latency_ms"] == 310.0


def test_producer_perf_without_a_summary_is_an_error():
    with pytest.raises(ValueError, match="no final summary"):
        stats.parse_producer_perf("343721 records sent, 68744.2 records/sec (1.44 MB/sec), 180.5 ms avg latency")


def test_consumer_perf_table_is_read_by_column_name():
    table = stats.parse_consumer_perf("some warning\n" + CONSUMER_OUTPUT)
    assert table["data.consumed.in.nMsg"] == 2_000_000
    assert table["fetch.nMsg.sec"] == 1334222.8
    assert table["nMsg.sec"] == 1104389.8
    assert table["start.time"] == "2026-11-25 08:59:25:101"


def test_consumer_perf_without_a_table_is_an_error():
    with pytest.raises(ValueError, match="no result table"):
        stats.parse_consumer_perf("WARN nothing consumed\n")


def test_a_file_committed_once_keeps_the_time_of_its_first_batch_even_when_compacted_later():
    batches = [
        (9, 9_000, ["a", "b", "c"]),  # 9.compact repeats everything up to batch 9
        (0, 1_000, ["a"]),
        (1, 2_000, ["b"]),
        (9, 9_000, ["c"]),
    ]
    assert stats.first_commit_times(batches) == {"a": 1_000, "b": 2_000, "c": 9_000}


def test_generated_players_are_deterministic_unicode_and_all_valid(tmp_path):
    first = players_data.write_csv(tmp_path / "a.csv", 2_000, seed=7)
    again = players_data.write_csv(tmp_path / "b.csv", 2_000, seed=7)
    other = players_data.write_csv(tmp_path / "c.csv", 2_000, seed=8)
    data = first.path.read_bytes()
    assert data == again.path.read_bytes()
    assert data != other.path.read_bytes()
    assert data.startswith(b"name;age\n")
    text = data.decode("utf-8")
    assert any(ord(c) > 0x3000 for c in text), "CJK names"
    assert any(0x0400 <= ord(c) <= 0x04FF for c in text), "Cyrillic names"
    players, dead = parse_players(data, "a.csv")
    assert (len(players), dead) == (2_000, [])
    assert first.rows == 2_000
    assert first.avg_row_bytes == pytest.approx((len(data) - len(b"name;age\n") - 2_000) / 2_000)


def test_bench_stage_selection_adds_what_a_stage_needs_and_keeps_the_order():
    from bench.run import selected_stages

    assert selected_stages("read") == ["prepare", "write", "read"]
    assert selected_stages("history,runs") == ["history", "runs"]  # they make their own topics
    assert selected_stages("memory,ceiling") == ["prepare", "ceiling", "write", "read", "memory"]
    assert selected_stages(None)[0] == "prepare" and selected_stages(None)[-1] == "verify_write"
    with pytest.raises(ValueError, match="unknown stage"):
        selected_stages("read,nope")


def test_batch_progress_lines_are_read_from_the_job_output_per_query():
    from bench.stages.common import batch_progress_lines

    output = "\n".join(
        [
            "26/11/25 INFO noise",
            '2026 INFO jobs batch progress: {"batchId": 0, "durationMs": {"addBatch": 900}, "numInputRows": 7, '
            '"query": "archive:t"}',
            '2026 INFO jobs batch progress: {"batchId": 0, "durationMs": {"addBatch": 5}, "numInputRows": 7, '
            '"query": "console:t"}',
        ]
    )
    assert batch_progress_lines(output, "archive:") == [
        {"batchId": 0, "durationMs": {"addBatch": 900}, "numInputRows": 7, "query": "archive:t"}
    ]
