"""The output lines the master keeps for `serve logs` and `serve top`: one bounded ring per app.

Every line a worker writes (and every line the master logs itself, under "master") is kept
with its app, pid and a sequence number counting every kept line: `serve logs` shows the
latest of an app or of all, in arrival order, and `serve logs -f` polls with the number of
the last line it showed as a cursor. The master holds no state per reader and never waits
for one: a reader that falls behind is told that lines were lost (`gap`), nothing more.

Each ring keeps at most LINES_PER_APP lines and CHARS_PER_APP characters, so one chatty app
cannot push another's lines out. Every app the master runs keeps its ring however many
there are (the master says which: `running`); rings of apps gone from the file are dropped, the
one written to longest ago first, past RINGS_MOST of them. A cursor is this master's alone: its `epoch`, drawn at random when the
ring is made (one per master process), goes with every answer, so that a follower that finds
another master answering (`serve upgrade`, a restart) reads that one's lines from its first
instead of taking an old cursor for a new one. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from supervisor.control import LOG_LINE_CHARS, LOG_MASTER, LOG_REPLY_CHARS, LogLine, Logs, LogsAnswer

LINES_PER_APP = 1000
CHARS_PER_APP = 512 * 1024
RINGS_MOST = 64  # rings of apps gone from the file; one more drops the one written to longest ago
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # colours of a terminal the master logs to: not for a reader


@dataclass(slots=True)
class _Ring:
    lines: deque[LogLine] = field(default_factory=deque)
    chars: int = 0
    lost: int = 0  # the sequence number of the newest line pushed out


class LogRing:
    """The latest output lines of each app and of the master, numbered in arrival order."""

    def __init__(
        self,
        *,
        lines_per_app: int = LINES_PER_APP,
        chars_per_app: int = CHARS_PER_APP,
        rings_most: int = RINGS_MOST,
        epoch: str = "",
    ) -> None:
        """`epoch`: this master's, in every answer; a random one when not given."""
        self.epoch = epoch or secrets.token_hex(8)
        self.lines_per_app = lines_per_app
        self.chars_per_app = chars_per_app
        self.rings_most = rings_most
        self.rings: dict[str, _Ring] = {}
        self.running: frozenset[str] = frozenset()  # apps the master runs: their rings are never dropped
        self.seq = 0  # the number of the latest line
        self.lost = 0  # the number of the newest line of a ring dropped whole

    def add(self, app: str, pid: int, text: str) -> None:
        """Keep one line of `app` (LOG_MASTER for the master's own), cut to LOG_LINE_CHARS."""
        if "\x1b" in text:
            text = _ESCAPES.sub("", text)
        text = text[:LOG_LINE_CHARS]
        ring = self.rings.get(app)
        if ring is None:
            ring = self.rings[app] = _Ring()
            self._drop_gone(keep=app)
        self.seq += 1
        ring.lines.append(LogLine(self.seq, app, pid, text))
        ring.chars += len(text)
        # The newest line always stays: a ring is never empty, and over its size by one line at most.
        while len(ring.lines) > 1 and (len(ring.lines) > self.lines_per_app or ring.chars > self.chars_per_app):
            gone = ring.lines.popleft()
            ring.chars -= len(gone.text)
            ring.lost = gone.seq

    def run(self, apps: Iterable[str]) -> None:
        """The apps the master runs now (after a start or a reload, and once removed ones are gone)."""
        self.running = frozenset(apps)
        self._drop_gone()

    def answer(self, request: Logs) -> dict[str, object]:
        """The `logs` reply's result for `request` (an app the master does not know has no lines)."""
        if request.app is None:
            rings = list(self.rings.values())
        else:
            rings = [self.rings[request.app]] if request.app in self.rings else []
        if request.after is None:
            return self._latest(rings, request.lines).to_dict()
        return self._since(rings, request.after, request.lines).to_dict()

    def latest(self, apps: Iterable[str], most: int) -> list[LogLine]:
        """The newest `most` lines of `apps` together, oldest first: the dashboard's pane of one app
        draws from its own ring (and the master's), which another app's volume cannot empty."""
        return _newest([self.rings[app] for app in apps if app in self.rings], most)

    def _latest(self, rings: list[_Ring], most: int) -> LogsAnswer:
        """The newest `most` lines, as many as fit a reply; the cursor is the latest line of all."""
        newest = _newest(rings, most)
        kept = _fitting(reversed(newest))
        kept.reverse()
        return LogsAnswer(tuple(kept), self.seq, epoch=self.epoch)

    def _since(self, rings: list[_Ring], after: int, most: int) -> LogsAnswer:
        """The oldest `most` lines after `after`, as many as fit; the cursor the last of them when more wait."""
        gap = self.lost > after or any(ring.lost > after for ring in rings)
        if after > self.seq:  # a cursor of an earlier master from a reader that ignores epochs: all ours are new
            after, gap = 0, True
        waiting = sorted((line for ring in rings for line in _after(ring, after)), key=_seq)
        kept = _fitting(waiting[:most])
        if len(kept) < len(waiting):
            # Never empty: one line's JSON (LOG_LINE_CHARS, escaped) is far below LOG_REPLY_CHARS.
            return LogsAnswer(tuple(kept), kept[-1].seq, more=True, gap=gap, epoch=self.epoch)
        return LogsAnswer(tuple(kept), self.seq, gap=gap, epoch=self.epoch)

    def _drop_gone(self, keep: str | None = None) -> None:
        """Past RINGS_MOST rings of apps gone from the file, drop the ones written to longest ago; never
        the master's, a running app's, or `keep` (the ring just made, still empty), which counts if gone."""
        gone = [name for name in self.rings if name not in self.running and name not in (LOG_MASTER, keep)]
        counted = len(gone) + (keep not in (None, LOG_MASTER) and keep not in self.running)
        gone.sort(key=lambda name: self.rings[name].lines[-1].seq)
        for name in gone[: max(0, counted - self.rings_most)]:
            ring = self.rings.pop(name)
            self.lost = max(self.lost, ring.lines[-1].seq)


def _seq(line: LogLine) -> int:
    return line.seq


def _newest(rings: list[_Ring], most: int) -> list[LogLine]:
    return sorted((line for ring in rings for line in _tail(ring, most)), key=_seq)[-most:]


def _tail(ring: _Ring, most: int) -> list[LogLine]:
    lines = ring.lines
    return [lines[index] for index in range(max(0, len(lines) - most), len(lines))]


def _after(ring: _Ring, after: int) -> list[LogLine]:
    found: list[LogLine] = []
    for line in reversed(ring.lines):  # newest first: a follower's cursor is near the end
        if line.seq <= after:
            break
        found.append(line)
    found.reverse()
    return found


def _fitting(lines: Iterable[LogLine]) -> list[LogLine]:
    """The first of `lines` whose JSON fits LOG_REPLY_CHARS (escaping can make text longer)."""
    kept: list[LogLine] = []
    room = LOG_REPLY_CHARS
    for line in lines:
        room -= len(json.dumps(line.text, ensure_ascii=False)) + len(line.app) + 64  # the keys, seq and pid
        if room < 0:
            break
        kept.append(line)
    return kept
