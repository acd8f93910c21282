"""bench/report.py writes its generated part into docs/performance.md, between markers, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[2]
LATEST = ROOT / "bench" / "results" / "latest.json"


def latest() -> dict:
    return json.loads(LATEST.read_text())


def test_the_page_is_docs_performance_md_not_the_readme():
    assert report.PERFORMANCE_PAGE == ROOT / "docs" / "performance.md"
    assert not hasattr(report, "update_readme")


def test_update_replaces_only_the_generated_part_and_keeps_the_hand_written_text(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(
        f"# Performance\n\nhand-written intro\n\n{report.PAGE_START}\nold figures\n{report.PAGE_END}\n\n"
        "## What is tuned\n\nhand-written tail\n"
    )
    report.update_performance_page(latest(), page, tmp_path)
    text = page.read_text()
    assert text.startswith("# Performance\n\nhand-written intro\n\n" + report.PAGE_START)
    assert text.endswith(report.PAGE_END + "\n\n## What is tuned\n\nhand-written tail\n")
    assert "old figures" not in text
    assert latest()["run_id"] in text
    assert "](../bench/results/latest.png)" in text  # links relative to docs/
    report.update_performance_page(latest(), page, tmp_path)
    assert page.read_text() == text  # idempotent


def test_a_page_without_markers_gets_the_part_appended(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text("# Performance\n\nhand-written\n")
    report.update_performance_page(latest(), page, tmp_path)
    text = page.read_text()
    assert text.startswith("# Performance\n\nhand-written\n\n" + report.PAGE_START)
    assert text.count(report.PAGE_START) == text.count(report.PAGE_END) == 1


def test_the_history_table_lists_every_dated_run_oldest_first(tmp_path):
    for run_id, started in (("bench-b", "2026-12-02T00:00:00+00:00"), ("bench-a", "2026-11-25T00:00:00+00:00")):
        doc = latest() | {"run_id": run_id, "started_at": started}
        (tmp_path / f"{started[:10]}.json").write_text(json.dumps(doc))
    (tmp_path / "latest.json").write_text(json.dumps(latest()))  # not a dated copy: not a row
    table = report.history_table(report._dated_runs(tmp_path))
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["bench-a", "bench-b"]


def test_the_committed_page_holds_what_report_writes_from_the_committed_results():
    text = report.PERFORMANCE_PAGE.read_text()
    expected = report.performance_section(latest(), report._dated_runs(report.RESULTS_DIR))
    assert expected in text, "docs/performance.md is stale: run python -m bench.report"
