"""README.md and docs/*.md: every relative link resolves, and the README keeps its contract.

The contract (issue 15): at most 150 lines; a title, one paragraph, then `make demo` and `make test`, in that order,
before anything else. The depth lives in docs/, one link away.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 150

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto: ...


def prose(text: str) -> str:
    """The text outside fenced code blocks and code spans (a link there is an example, not a link)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", page.read_text(), flags=re.S | re.M)
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved}")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT)}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(page):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)} has broken links"


def test_docs_has_its_pages():
    names = {p.name for p in PAGES}
    expected = {
        "params-and-rows.md",
        "verification.md",
        "operations.md",
        "cluster.md",
        "security.md",
        "ui.md",
        "performance.md",
        "deployment.md",
    }
    assert expected <= names


def test_readme_is_at_most_150_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the depth belongs in docs/"


def test_readme_opens_with_a_title_one_paragraph_then_make_demo_and_make_test():
    blocks = re.split(r"\n\s*\n", README.read_text().strip())
    title, paragraph, commands = blocks[0], blocks[1], blocks[2]
    assert re.fullmatch(r"# \S[^\n]*", title), f"README.md must start with a '# ' title line, not {title[:60]!r}"
    assert not re.match(r"(#|```|~~~|\||[-*+] |>|!\[|<)", paragraph), f"not a paragraph: {paragraph[:60]!r}"
    lines = commands.splitlines()
    assert lines[0].startswith("```") and lines[-1].strip() == "```", "the third block must be a code block"
    commands_run = [line.split("#")[0].strip() for line in lines[1:-1] if line.split("#")[0].strip()]
    assert commands_run[:2] == ["make demo", "make test"], commands_run


def test_the_link_check_finds_a_broken_file_and_a_broken_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with punctuation\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-code-heading-with-punctuation) [ok](https://example.org/x)\n"
        "`[in code](nowhere.md)` [gone](missing.md) [bad](other.md#nope)\n"
    )
    assert broken_links(page) == ["missing.md: missing.md", "other.md#nope: no heading #nope in other.md"]
