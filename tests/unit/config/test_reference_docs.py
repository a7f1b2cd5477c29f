from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def gen_docs() -> dict[str, object]:
    return runpy.run_path(str(ROOT / "scripts" / "gen-docs"), run_name="gen_docs")


def test_the_committed_reference_is_what_the_schema_renders() -> None:
    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == gen_docs()["render"](), "docs/reference.md is stale: run scripts/gen-docs"  # type: ignore[operator]


def test_gen_docs_check_mode() -> None:
    main = gen_docs()["main"]
    assert main(["--check"]) == 0  # type: ignore[operator]
    assert main(["--bogus"]) == 2  # type: ignore[operator]


def test_every_toml_key_and_flag_is_documented() -> None:
    from supervisor.config.schema import APP_SETTINGS, BIND_KEYWORDS, SERVER_SETTINGS

    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    for setting in (*APP_SETTINGS, *SERVER_SETTINGS, *BIND_KEYWORDS):
        if setting.key.toml:
            assert f"| `{setting.name}` |" in text
        if setting.key.flag:
            assert f"`{setting.key.flag}`" in text
