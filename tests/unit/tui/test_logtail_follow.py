"""tui/logtail.py: `serve logs -f` polls with the cursor of the last answer, and starts over, saying so,
when another master answers (`serve upgrade`, a restart): that master's numbers are not the old one's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from supervisor.config.peek import ControlTarget
from supervisor.control import Logs, LogsAnswer
from supervisor.master.logring import LogRing
from supervisor.tui import logtail

TARGET = ControlTarget("serve.toml", "/s.sock", None, ())


class Masters:
    """Answers `logs` from whichever master's ring is `current`; stops the follower after `polls` answers."""

    def __init__(self, current: LogRing, polls: int) -> None:
        self.current = current
        self.polls = polls
        self.switch_to: LogRing | None = None  # the master that answers from the second request on
        self.before: Callable[[], None] = lambda: None  # what happens before each answer

    def fetch(self, _target: ControlTarget, command: Logs) -> LogsAnswer:
        if self.polls == 0:
            raise KeyboardInterrupt
        self.polls -= 1
        self.before()
        answer = LogsAnswer.from_dict(self.current.answer(command))
        if self.switch_to is not None:
            self.current, self.switch_to = self.switch_to, None
        return answer


def follow(masters: Masters, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(logtail, "fetch", masters.fetch)
    monkeypatch.setattr(logtail, "POLL_S", 0.0)
    printed: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        logtail.show(TARGET, None, 1, follow=True, write=printed.append)
    return printed


def test_a_new_master_with_fewer_lines_than_the_old_cursor_is_read_from_its_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = LogRing(epoch="old"), LogRing(epoch="new")
    for n in range(20):
        old.add("api", 10, f"old {n}")
    for n in range(25):  # more than the old master numbered: its cursor (20) would skip 20 of these
        new.add("api", 20, f"new {n}")
    masters = Masters(old, polls=4)
    masters.switch_to = new
    printed = follow(masters, monkeypatch)
    assert printed[0] == "api[10] old 19"
    assert "another master answers now" in printed[1]
    assert printed[2:] == [f"api[20] new {n}" for n in range(25)]


def test_the_same_master_is_followed_by_its_cursor_without_a_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = LogRing(epoch="one")
    ring.add("api", 10, "first")
    masters = Masters(ring, polls=4)
    masters.before = lambda: ring.add("api", 10, f"after poll {masters.polls}")
    assert follow(masters, monkeypatch) == [f"api[10] after poll {n}" for n in (3, 2, 1, 0)]
