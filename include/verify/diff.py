"""expected vs actual multisets, with readable diff lines: what both verifications report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

SHOW = 20  # diff lines shown per kind


class VerificationFailed(AssertionError):
    """What arrived is not what was expected; the message is the diff."""


def fmt(item: tuple) -> str:
    return " | ".join("<null>" if v is None else repr(v) for v in item)


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
        out = []
        for label, counter in (("missing", self.missing), ("unexpected", self.unexpected)):
            total = sum(counter.values())
            if total:
                out.append(f"{what}: {total} {label}:")
                for item, n in sorted(counter.items(), key=lambda kv: repr(kv[0]))[:SHOW]:
                    out.append(f"  {'-' if label == 'missing' else '+'} {fmt(item)}" + (f"  (x{n})" if n > 1 else ""))
                if len(counter) > SHOW:
                    out.append(f"  ... and {len(counter) - SHOW} more")
        return out
