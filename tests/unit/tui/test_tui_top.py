"""tui/top.py's poller: what it keeps from each attempt, and when the master counts as not answering."""

from __future__ import annotations

import time

import pytest

from supervisor.client import NoMasterError
from supervisor.errors import ControlError
from supervisor.status.snapshot import Snapshot
from supervisor.tui.top import SILENT_AFTER_S, Fetched, Poller

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
