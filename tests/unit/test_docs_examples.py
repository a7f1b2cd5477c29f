"""The deployment and migration guides cannot drift: their examples must load, parse and link.

Every ```toml block of docs/deploy/*.md and docs/migrate/*.md goes through the same loader
as `serve up`; a block meant as a fragment says so with `<!-- partial -->` on the line
before its fence (a ```yaml block so marked is another tool's file: it must parse, but need not
be Kubernetes objects). The other checks keep the guides in step with the code they describe:
the Dockerfile shown is the one committed, the uvicorn guide names every `serve run` option,
the settings named in the mapping tables exist, and relative links point at files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from supervisor.config.loader import load_text
from supervisor.config.options import run_params
from supervisor.config.schema import APP_SETTINGS, SERVER_SETTINGS
from supervisor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted([*(ROOT / "docs" / "deploy").glob("*.md"), *(ROOT / "docs" / "migrate").glob("*.md")])
PARTIAL_MARK = "<!-- partial -->"

_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_SETTING = re.compile(r"(\[server\] )?([a-z][a-z0-9_]*)")

APP_KEYS = frozenset(setting.name for setting in APP_SETTINGS if setting.key.toml)
SERVER_KEYS = frozenset(setting.name for setting in SERVER_SETTINGS)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a guide."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    partial: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path, text: str) -> list[Block]:
    """The fenced blocks of a Markdown text; `partial` when the last non-blank line before the fence is the mark."""
    found = []
    for match in _FENCE.finditer(text):
        before = [line.strip() for line in text[: match.start()].splitlines() if line.strip()]
        found.append(
            Block(
                path=path,
                line=text.count("\n", 0, match.start()) + 1,
                language=match.group(1).lower(),
                text=match.group(2),
                partial=bool(before) and before[-1] == PARTIAL_MARK,
            )
        )
    return found


def guide_blocks(language: str) -> list[Block]:
    return [
        block
        for path in GUIDES
        for block in blocks_of(path, path.read_text(encoding="utf-8"))
        if block.language == language
    ]


def table_rows(text: str) -> list[tuple[list[str], list[str]]]:
    """Every Markdown table row with its table's header cells: [(header, cells), ...]."""
    rows: list[tuple[list[str], list[str]]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(cell) <= set("-: ") for cell in cells):
            rows.append((header, cells))
    return rows


TOML_BLOCKS = guide_blocks("toml")


def test_the_guides_are_found_and_hold_toml_examples() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in GUIDES}
    for expected in ("docs/deploy/nginx.md", "docs/deploy/systemd.md", "docs/migrate/uvicorn.md"):
        assert expected in names
    assert len(TOML_BLOCKS) >= len(GUIDES)


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[block.where for block in TOML_BLOCKS])
def test_every_toml_example_is_a_valid_serve_file(block: Block) -> None:
    if block.partial:
        pytest.skip(f"{block.where} is marked {PARTIAL_MARK}")
    # Blank lines in front keep the line numbers of the Markdown file in a ConfigError's problems.
    try:
        served = load_text("\n" * block.line + block.text, str(block.path))
    except ConfigError as error:
        # Paths of the reader's project (env_file, reload_dirs) do not exist beside the docs;
        # every other problem is a mistake in the example.
        others = [p for p in error.problems if not p.message.startswith(("no such file", "no such directory"))]
        assert others == [], "\n".join(map(str, others))
        return
    assert served.apps


def test_a_partial_mark_applies_to_the_next_block_only() -> None:
    text = "Intro.\n\n<!-- partial -->\n\n```toml\nworkers = 2\n```\n\nThen:\n```toml\n[apps.a]\n```\n"
    first, second = blocks_of(ROOT / "x.md", text)
    assert (first.partial, first.line, first.text) == (True, 5, "workers = 2\n")
    assert (second.partial, second.line) == (False, 10)


def test_the_dockerfile_shown_is_the_dockerfile_committed() -> None:
    shown = [block.text for block in guide_blocks("dockerfile") if block.path.name == "docker.md"]
    committed = (ROOT / "docs" / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert shown == [committed]
    assert 'CMD ["serve", "up", "-c", "/app/serve.toml"' in committed


@pytest.mark.parametrize("block", guide_blocks("yaml"), ids=lambda block: block.where)
def test_every_yaml_example_is_kubernetes_objects(block: Block) -> None:
    documents = list(yaml.safe_load_all(block.text))
    assert documents
    if block.partial:  # another tool's configuration (a proxy's): it parses, nothing more to check
        return
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document), block.where


@pytest.mark.parametrize("block", guide_blocks("python"), ids=lambda block: block.where)
def test_every_python_example_compiles(block: Block) -> None:
    compile(block.text, block.where, "exec")


def test_the_uvicorn_guide_names_every_serve_run_option() -> None:
    text = (ROOT / "docs" / "migrate" / "uvicorn.md").read_text(encoding="utf-8")
    options = [name for param in run_params() for name in (*param.opts, *param.secondary_opts) if name.startswith("--")]
    missing = [name for name in options if f"`{name}`" not in text]
    assert not missing, f"docs/migrate/uvicorn.md does not mention {missing}"


def maps_to_settings(header: list[str]) -> bool:
    """Whether a table's second column holds serve settings ("TOML", "serve.toml", "serve `[apps.x]`")."""
    return len(header) >= 2 and (header[1] in ("TOML", "serve.toml") or header[1].startswith("serve `["))


def is_setting(name: str) -> bool:
    """An app key, or a `[server] key`."""
    if name.startswith("[server] "):
        return name.removeprefix("[server] ") in SERVER_KEYS
    return name in APP_KEYS


def mapped_settings(path: Path) -> list[str]:
    """The settings named in the serve column (the second) of a guide's mapping tables."""
    named = []
    for header, cells in table_rows(path.read_text(encoding="utf-8")):
        if not maps_to_settings(header) or len(cells) < 2:
            continue
        for code in _CODE.findall(cells[1]):
            match = _SETTING.match(code)
            assert match, f"{path.name}: `{code}` in the serve column is not a setting"
            named.append(code if match.group(1) else match.group(2))
    return named


@pytest.mark.parametrize("name", ["uvicorn.md", "gunicorn.md", "supervisord.md", "pm2.md"])
def test_the_settings_in_the_mapping_tables_exist(name: str) -> None:
    named = mapped_settings(ROOT / "docs" / "migrate" / name)
    assert len(named) >= 10
    unknown = [setting for setting in named if not is_setting(setting)]
    assert not unknown, f"docs/migrate/{name} maps to settings serve does not have: {unknown}"


@pytest.mark.parametrize("path", GUIDES, ids=[path.name for path in GUIDES])
def test_relative_links_point_at_files(path: Path) -> None:
    targets = [target.split("#", 1)[0] for target in _LINK.findall(path.read_text(encoding="utf-8"))]
    local = [target for target in targets if target and "://" not in target]
    broken = [target for target in local if not (path.parent / target).exists()]
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"
