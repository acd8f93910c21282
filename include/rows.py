"""The rules for a players CSV (``name;age``), in plain Python: the specification of what is valid.

The Spark job (jobs/write_to_kafka.py) implements the same rules with Spark SQL functions, for speed; the
verification reads the files the job consumed and applies *these* rules to know which messages must have
arrived. tests/unit/test_players_rules.py runs both implementations on the same inputs and requires them to
agree row for row, reason for reason.

Rules (for any file):
- Bytes are UTF-8; a leading BOM is ignored; lines end with LF or CRLF (the CR is not part of the line).
- Lines that are empty or only ASCII whitespace are skipped and not counted.
- Line 1 is a header, and skipped, when it is ``name;age`` in any case, with optional spaces around fields.
- Every other line must have exactly two ``;``-separated fields; name = field 1 trimmed, non-empty,
  at most 1024 characters; age = field 2 trimmed, ASCII digits only, 0..150. Valid rows become
  key = name, value = the age as a decimal string without leading zeros (``"036"`` -> ``"36"``).
- Everything else is dead-lettered with the first reason that applies, in this order:
  ``invalid UTF-8``, ``expected 2 fields, got N``, ``empty name``,
  ``name too long: N characters (max 1024)``, ``empty age``,
  ``age is not an integer: '<age>'``, ``age out of range 0..150: '<age>'``.
- "Trimmed" means ASCII whitespace (space, tab, CR, LF, VT, FF) removed at both ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_AGE = 150
# A Kafka key must fit in one message (~1 MiB by default): a longer "name" is bad input, not a player.
MAX_NAME_CHARS = 1024
# Dead letters carry the raw line; beyond this many characters it is cut and flagged, so that a hostile line
# (1 MB, or NUL bytes that JSON escapes to 6 characters each) still fits in one Kafka message.
MAX_RAW_CHARS = 65_536

_WS = "\t\n\x0b\x0c\r "
_HEADER = re.compile(r"^[\t\n\x0b\x0c\r ]*name[\t\n\x0b\x0c\r ]*;[\t\n\x0b\x0c\r ]*age[\t\n\x0b\x0c\r ]*$", re.I)
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Player:
    name: str
    age: str  # the Kafka value: decimal, no leading zeros


@dataclass(frozen=True)
class DeadLetter:
    file: str
    line: int
    raw: str
    reason: str
    truncated: bool


def _trim(text: str) -> str:
    return text.strip(_WS)


def check_line(text: str) -> tuple[Player | None, str | None]:
    """(player, None) for a valid data line, (None, reason) for a bad one. ``text`` is decoded already."""
    fields = text.split(";")
    if len(fields) != 2:
        return None, f"expected 2 fields, got {len(fields)}"
    name, age = _trim(fields[0]), _trim(fields[1])
    if not name:
        return None, "empty name"
    if len(name) > MAX_NAME_CHARS:
        return None, f"name too long: {len(name)} characters (max {MAX_NAME_CHARS})"
    if not age:
        return None, "empty age"
    if not _DIGITS.match(age):
        return None, f"age is not an integer: '{age}'"
    digits = age.lstrip("0") or "0"
    if len(digits) > 3 or int(digits) > MAX_AGE:
        return None, f"age out of range 0..{MAX_AGE}: '{age}'"
    return Player(name, digits), None


def scan_players(lines: Iterable[bytes], file: str) -> Iterator[Player | DeadLetter]:
    """One file's lines (bytes, with or without their LF), in order, as players and dead letters by the rules
    above: a file of any size, one line in memory at a time."""
    for number, raw in enumerate(lines, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
            valid_utf8 = True
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            valid_utf8 = False
        if not _trim(text) and valid_utf8:
            continue
        if number == 1 and _HEADER.match(text):
            continue
        if valid_utf8:
            player, reason = check_line(text)
        else:
            player, reason = None, "invalid UTF-8"
        if player is not None:
            yield player
        else:
            yield DeadLetter(file, number, text[:MAX_RAW_CHARS], str(reason), len(text) > MAX_RAW_CHARS)


def parse_players(data: bytes, file: str) -> tuple[list[Player], list[DeadLetter]]:
    """Split one file's bytes into valid players and dead letters, by the rules above."""
    players: list[Player] = []
    dead: list[DeadLetter] = []
    for entry in scan_players(data.split(b"\n"), file):
        (players if isinstance(entry, Player) else dead).append(entry)
    return players, dead


_BINARY_MAGIC = (
    b"\x89PNG",
    b"\x1f\x8b",  # gzip
    b"PK\x03\x04",  # zip, xlsx, jar
    b"\x7fELF",
    b"%PDF",
    b"PAR1",  # parquet
    b"\xff\xd8\xff",  # jpeg
    b"BZh",
    b"\xfd7zXZ",
)


def looks_binary(sample: bytes) -> bool:
    """True for a file that is not text at all (an image, an archive, a binary): refused before Spark starts.

    A text file with a few hostile lines (NUL bytes, control characters) is still text: its bad lines go to
    the dead-letter topic. A file is binary when it starts with a known binary signature, or when more than
    30% of its first 64 KiB are control bytes other than tab, CR and LF.
    """
    if not sample:
        return False
    if sample.startswith(_BINARY_MAGIC):
        return True
    head = sample[:65536]
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return control > len(head) * 0.3
