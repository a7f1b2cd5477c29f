"""docs/architecture.md cannot drift from the code: what it names exists, and it names every module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PATH_LIKE = re.compile(r"[\w./-]+\.(py|md|toml|example)|[\w/]+/")


def _named_paths() -> tuple[list[str], set[Path]]:
    """(names that match no file, the modules named) over every `code span` of the page."""
    unknown: list[str] = []
    modules: set[Path] = set()
    for span in re.findall(r"`([^`\n]+)`", TEXT):
        for part in re.split(r"[\s,()]+", span):
            if not PATH_LIKE.fullmatch(part) or part.startswith("."):
                continue
            found = next(
                (c for c in (ROOT / part, ROOT / "supervisor" / part, ROOT / "docs" / part) if c.exists()), None
            )
            if found is None:
                unknown.append(part)
            elif part.endswith(".py"):
                modules.add(found.resolve())
    return unknown, modules


def test_every_path_it_names_exists() -> None:
    unknown, _ = _named_paths()
    assert unknown == []


def test_every_link_and_anchor_resolves() -> None:
    broken = [link for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", TEXT) if not (ROOT / "docs" / link).exists()]
    headings = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.*)$", TEXT, re.MULTILINE)
    }
    broken += [anchor for anchor in re.findall(r"\]\(#([^)]+)\)", TEXT) if anchor not in headings]
    assert broken == []


def test_every_module_is_named() -> None:
    _, modules = _named_paths()
    unnamed = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "supervisor").rglob("*.py"))
        if path.read_text(encoding="utf-8").strip() and path.resolve() not in modules
    ]
    assert unnamed == []
