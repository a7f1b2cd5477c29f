"""cli.py: what `serve logs`, `serve status`, `serve reload` and a refusal print of app text reaches the terminal
with no control character a terminal would obey (OSC titles and clipboard writes, \\r, C1); --json stays raw."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tui_samples import SNAPSHOT

from supervisor import cli
from supervisor.config.peek import ControlTarget
from supervisor.control import LogLine, LogsAnswer, Reply
from supervisor.errors import ControlError
from supervisor.tui import logtail

HOSTILE = "x\x1b]0;owned\x07\x1b]52;c;aGk=\x07 \x9b2J\rapi[1] spoofed\x00"
SHOWN = "x \\x9b2J\\x0dapi[1] spoofed\\x00"


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A master that is not there: _ask and the logs fetch answer what `answers` holds."""
    answers: dict[str, object] = {}
    monkeypatch.setattr(cli, "_target", lambda *_: ControlTarget("serve.toml", "/s.sock", None, ()))

    def ask(_path: object, command: object, **_: object) -> Reply:
        if "error" in answers:
            raise ControlError(str(answers["error"]))
        return Reply(True, result=answers[type(command).__name__])

    monkeypatch.setattr(cli, "_ask", ask)
    monkeypatch.setattr(logtail, "fetch", lambda *_: LogsAnswer((LogLine(1, "c1", 7, HOSTILE),), 1))
    return answers


def _run(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli.serve, list(args))
    return result.stdout, result.stderr


def _no_controls(text: str) -> bool:
    return all(ch in "\t\n" or (ch >= " " and not "\x7f" <= ch <= "\x9f") for ch in text)


def test_logs_lines_show_controls_and_drop_escapes(master: dict[str, object]) -> None:
    out, _ = _run("logs", "c1")
    assert out == f"c1[7] {SHOWN}\n"


def test_status_text_shows_controls_and_json_keeps_them(master: dict[str, object]) -> None:
    api = {**SNAPSHOT.to_dict()["apps"][0], "last_error": HOSTILE + "\nsecond"}  # type: ignore[index]
    master["Status"] = {**SNAPSHOT.to_dict(), "config_path": "/srv/a\nb.toml", "apps": [api]}
    out, _ = _run("status")
    assert _no_controls(out)
    assert f"  last error: {SHOWN}\n              second\n" in out
    assert "/srv/a\\x0ab.toml" in out
    raw, _ = _run("status", "--json")
    assert json.loads(raw)["apps"][0]["last_error"] == HOSTILE + "\nsecond"


def test_reload_answers_and_refusals_show_controls(master: dict[str, object]) -> None:
    master["Reload"] = {"generations": {"c1\x1b]0;t\x07": 2}, "restart_needed": ["bind\r"]}
    out, err = _run("reload")
    assert out == "reloaded: c1 generation 2 ready\n"
    assert err == "note: [server] bind\\x0d changed; the running master keeps the old value until it restarts\n"
    master["error"] = f"serve.toml: reload failed: c1: {HOSTILE}\n  at line 2\x07"
    _, err = _run("reload")
    assert err == f"serve.toml: reload failed: c1: {SHOWN}\n  at line 2\\x07\n"
