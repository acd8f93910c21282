"""expected vs actual multisets, with readable diff lines: what both verifications report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

SHOW = 20  # diff lines shown per kind


class VerificationFailed(AssertionError):
    """What arrived is not what was expected; the message is the diff."""


def fmt(item: tuple) -> str:
    return " | ".join("<null>" if v is None else repr(v) for v in item)


def report_lines(what: str, sections: list[tuple[str, int, list[tuple[tuple, int]], int]]) -> list[str]:
    """The diff as a reader sees it: per section (label, total, the items shown with their counts, how many more
    items there are), a heading and one line per item, ``-`` for missing and ``+`` for anything else."""
    out = []
    for label, total, items, more in sections:
        if total:
            out.append(f"{what}: {total} {label}:")
            for item, n in items:
                out.append(f"  {'-' if label == 'missing' else '+'} {fmt(item)}" + (f"  (x{n})" if n > 1 else ""))
            if more:
                out.append(f"  ... and {more} more")
    return out


@dataclass
class MultisetDiff:
    """expected vs actual multisets: missing, unexpected, duplicated (an expected item that came too often)."""

    expected: Counter
    actual: Counter
    missing: Counter = field(init=False)
    unexpected: Counter = field(init=False)
    duplicates: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.missing = self.expected - self.actual
        extra = self.actual - self.expected
        self.unexpected = Counter({k: n for k, n in extra.items() if k not in self.expected})
        self.duplicates = Counter({k: n for k, n in extra.items() if k in self.expected})

    def lines(self, what: str) -> list[str]:
        sections = []
        for label, counter in (("missing", self.missing), ("unexpected", self.unexpected)):
            items = sorted(counter.items(), key=lambda kv: repr(kv[0]))
            sections.append((label, sum(counter.values()), items[:SHOW], max(0, len(items) - SHOW)))
        return report_lines(what, sections)
