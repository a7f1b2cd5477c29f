"""tui/top.py: what its poller keeps from each attempt, when the master counts as not answering, and whose
lines it asks for."""

from __future__ import annotations

import dataclasses
import time

import pytest
from tui_samples import API

from supervisor.client import NoMasterError
from supervisor.config.peek import ControlTarget
from supervisor.control import LOG_MASTER, Logs, Reply, Status
from supervisor.errors import ControlError
from supervisor.status.snapshot import Snapshot
from supervisor.tui import top
from supervisor.tui.top import LOG_LINES, SILENT_AFTER_S, Fetched, Poller

SNAPSHOT = Snapshot(master_pid=1, config_path="serve.toml", started_at=0.0, uptime_s=0.0, apps=(), events=())


def poller(*outcomes: Fetched | ControlError) -> Poller:
    pending = list(outcomes)

    def fetch() -> Fetched:
        outcome = pending.pop(0)
        if isinstance(outcome, ControlError):
            raise outcome
        return outcome

    return Poller(fetch, (SNAPSHOT, None), time.monotonic())


def test_an_unanswered_poll_keeps_the_last_answer_and_says_how_long_the_master_has_been_silent() -> None:
    answered = (SNAPSHOT, ["a line"])
    watcher = poller(answered, ControlError("the master did not answer within 5 s"))
    watcher.poll_once()
    assert watcher.latest == answered
    assert watcher.error == ""
    at = watcher.answered_at
    watcher.poll_once()
    assert watcher.latest == answered
    assert watcher.error == "the master did not answer within 5 s"
    assert watcher.gone is None
    assert watcher.silent_for(at + SILENT_AFTER_S / 2) == 0.0  # a poll or two late: not worth a word
    assert watcher.silent_for(at + 7.0) == pytest.approx(7.0)


def test_a_master_gone_stops_the_poller_and_says_why() -> None:
    gone = NoMasterError("no master listens on control.sock")
    watcher = poller(gone)
    watcher.start()
    deadline = time.monotonic() + 5
    while watcher.gone is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.gone is gone
    watcher.stop()


def _line(seq: int, app: str, text: str) -> dict[str, object]:
    return {"seq": seq, "app": app, "pid": 7, "text": text}


class FakeMaster:
    """Answers top's requests as a master whose chatty app filled the latest lines of all."""

    def __init__(self, *, refuse_app_logs: bool = False) -> None:
        self.refuse_app_logs = refuse_app_logs
        self.asked: list[Logs] = []
        self.snapshot = dataclasses.replace(SNAPSHOT, apps=(dataclasses.replace(API, name="quiet"),))

    def __call__(self, socket_path: str, command: object, *, config_path: str, timeout: float) -> Reply:
        if isinstance(command, Status):
            return Reply.success(self.snapshot.to_dict())
        assert isinstance(command, Logs)
        self.asked.append(command)
        if command.app is None:
            lines = [_line(10 + n, "chatty", f"flood {n}") for n in range(3)]
        elif self.refuse_app_logs:
            return Reply.failure("no such app")
        elif command.app == LOG_MASTER:
            lines = [_line(2, LOG_MASTER, "quiet: ready")]
        else:
            lines = [_line(1, command.app, "one"), _line(5, command.app, "two")]
        return Reply.success({"lines": lines, "cursor": 12})


TARGET = ControlTarget("serve.toml", "/nonexistent/s.sock", None, ())


def test_top_asks_for_the_selected_apps_own_lines_and_the_masters_merged_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master = FakeMaster()
    monkeypatch.setattr(top, "request", master)
    _, lines = top._fetch(TARGET, 1.0, "quiet")
    assert lines == ["quiet[7] one", "serve[7] quiet: ready", "quiet[7] two"]
    assert master.asked == [Logs(LOG_LINES, "quiet"), Logs(LOG_LINES, LOG_MASTER)]


def test_top_asks_for_every_apps_lines_with_no_app_selected_or_one_the_master_cannot_answer_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every = ["chatty[7] flood 0", "chatty[7] flood 1", "chatty[7] flood 2"]
    for master, app in ((FakeMaster(), None), (FakeMaster(), "gone"), (FakeMaster(refuse_app_logs=True), "quiet")):
        monkeypatch.setattr(top, "request", master)
        assert top._fetch(TARGET, 1.0, app)[1] == every
