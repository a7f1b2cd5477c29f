"""The master's kept output lines (master/logring.py): bounded per app, numbered, read back by `serve logs`
and by the dashboard's pane of one app (PlainLog.lines_of)."""

from __future__ import annotations

from typing import Any

from supervisor.control import LOG_LINE_CHARS, LOG_MASTER, LOG_REPLY_CHARS, LogLine, Logs, LogsAnswer
from supervisor.master.logring import LogRing
from supervisor.master.output import RECENT_LINES, PlainLog


def read(ring: LogRing, **request: Any) -> LogsAnswer:
    return LogsAnswer.from_dict(ring.answer(Logs(**request)))


def texts(answer: LogsAnswer) -> list[str]:
    return [line.text for line in answer.lines]


def test_lines_come_back_in_arrival_order_across_apps_with_app_and_pid() -> None:
    ring = LogRing()
    ring.add("api", 11, "one")
    ring.add("web", 22, "two")
    ring.add(LOG_MASTER, 1, "three")
    ring.add("api", 12, "four")
    answer = read(ring, lines=10)
    assert answer.lines == (
        LogLine(1, "api", 11, "one"),
        LogLine(2, "web", 22, "two"),
        LogLine(3, LOG_MASTER, 1, "three"),
        LogLine(4, "api", 12, "four"),
    )
    assert (answer.cursor, answer.more, answer.gap) == (4, False, False)
    assert [line.prefixed() for line in answer.lines[2:]] == ["serve[1] three", "api[12] four"]


def test_the_newest_lines_of_one_app_or_of_all() -> None:
    ring = LogRing(epoch="e1")
    for n in range(10):
        ring.add("api" if n % 2 else "web", 1, f"line {n}")
    assert texts(read(ring, lines=3)) == ["line 7", "line 8", "line 9"]
    assert texts(read(ring, lines=3, app="api")) == ["line 5", "line 7", "line 9"]
    assert read(ring, lines=3, app="api").cursor == 10  # following starts after every line so far
    assert read(ring, lines=3, app="unknown") == LogsAnswer((), 10, epoch="e1")


def test_following_from_a_cursor_gives_only_newer_lines_of_the_app() -> None:
    ring = LogRing(epoch="e1")
    ring.add("api", 1, "old")
    cursor = read(ring, lines=5).cursor
    assert read(ring, lines=5, after=cursor) == LogsAnswer((), cursor, epoch="e1")
    ring.add("web", 2, "other app")
    ring.add("api", 1, "new")
    answer = read(ring, lines=5, app="api", after=cursor)
    assert texts(answer) == ["new"]
    assert answer.cursor == 3
    assert read(ring, lines=5, app="api", after=answer.cursor) == LogsAnswer((), 3, epoch="e1")


def test_a_follower_behind_by_more_than_one_answer_pages_forward_without_losing_lines() -> None:
    ring = LogRing()
    for n in range(10):
        ring.add("api", 1, f"line {n}")
    first = read(ring, lines=4, after=0)
    assert texts(first) == ["line 0", "line 1", "line 2", "line 3"]
    assert (first.cursor, first.more) == (4, True)
    second = read(ring, lines=4, after=first.cursor)
    third = read(ring, lines=4, after=second.cursor)
    assert texts(second) + texts(third) == [f"line {n}" for n in range(4, 10)]
    assert (third.cursor, third.more) == (10, False)


def test_each_app_keeps_its_own_bounded_ring_and_a_follower_behind_it_is_told() -> None:
    ring = LogRing(lines_per_app=3)
    ring.add("quiet", 1, "kept")
    for n in range(10):
        ring.add("chatty", 2, f"line {n}")
    assert texts(read(ring, lines=10)) == ["kept", "line 7", "line 8", "line 9"]
    behind = read(ring, lines=10, after=1)
    assert behind.gap
    assert texts(behind) == ["line 7", "line 8", "line 9"]
    assert not read(ring, lines=10, after=behind.cursor).gap
    assert not read(ring, lines=10, app="quiet", after=1).gap  # its own ring lost nothing


def test_a_ring_is_bounded_in_characters_too_but_keeps_its_newest_line() -> None:
    ring = LogRing(chars_per_app=10)
    ring.add("api", 1, "12345")
    ring.add("api", 1, "67890")
    ring.add("api", 1, "abc")
    assert texts(read(ring, lines=10)) == ["67890", "abc"]
    ring.add("api", 1, "x" * 50)
    assert texts(read(ring, lines=10)) == ["x" * 50]


def test_long_lines_are_cut_and_terminal_colours_removed() -> None:
    ring = LogRing()
    ring.add(LOG_MASTER, 1, "\x1b[32mINFO\x1b[0m:     Master serving")
    ring.add("api", 2, "y" * (LOG_LINE_CHARS + 10))
    first, second = read(ring, lines=2).lines
    assert first.text == "INFO:     Master serving"
    assert len(second.text) == LOG_LINE_CHARS


def test_an_answer_stays_within_the_reply_budget() -> None:
    ring = LogRing(lines_per_app=1000, chars_per_app=10**7)
    for n in range(400):
        ring.add("api", 1, f"{n:04d}" + "z" * (LOG_LINE_CHARS - 4))
    latest = read(ring, lines=1000)
    assert 0 < len(latest.lines) < 400
    assert latest.lines[-1].text.startswith("0399")  # the newest are the ones kept
    assert sum(len(line.text) for line in latest.lines) <= LOG_REPLY_CHARS
    paged = read(ring, lines=1000, after=0)
    assert paged.lines[0].text.startswith("0000")  # a follower gets the oldest first, and more to come
    assert paged.more
    assert paged.cursor == paged.lines[-1].seq


def test_lines_count_at_their_length_once_escaped_for_json() -> None:
    ring = LogRing()
    for _ in range(31):  # "\x01" is six characters in JSON: 31 such lines do not fit in one answer
        ring.add("api", 1, "\x01" * LOG_LINE_CHARS)
    answer = read(ring, lines=1000, after=0)
    assert answer.more
    assert len(answer.lines) < 31
    assert answer.cursor == answer.lines[-1].seq
    assert read(ring, lines=1000, after=answer.cursor).lines[0].seq == answer.cursor + 1


def test_rings_of_apps_gone_are_dropped_the_stalest_first_never_the_masters() -> None:
    ring = LogRing(rings_most=2)
    ring.add(LOG_MASTER, 1, "master")
    ring.add("old", 2, "old")
    ring.add("new", 3, "new")
    ring.add(LOG_MASTER, 1, "master again")
    ring.add("newest", 4, "newest")  # a third ring of an app the master does not run: "old" goes
    assert set(ring.rings) == {LOG_MASTER, "new", "newest"}
    assert read(ring, lines=10, after=1).gap  # line 2 is gone
    assert not read(ring, lines=10, after=2).gap


def test_every_running_app_keeps_its_lines_however_many_apps_there_are() -> None:
    ring = LogRing(rings_most=2)
    apps = [f"a{n:02}" for n in range(70)]
    ring.run(apps)
    ring.add(LOG_MASTER, 1, "master")
    for pid, app in enumerate(apps, 100):
        ring.add(app, pid, f"{app} started")
    assert len(ring.rings) == 71  # the master's and every app's: none dropped (64 of them were)
    assert texts(read(ring, app="a00", lines=5)) == ["a00 started"]
    assert not read(ring, lines=200, after=0).gap


def test_a_reload_that_removes_apps_drops_their_rings_past_the_limit_the_stalest_first() -> None:
    ring = LogRing(rings_most=1)
    ring.run(["api", "old", "older"])
    ring.add("older", 2, "older")
    ring.add("old", 3, "old")
    ring.add("api", 4, "api")
    ring.add(LOG_MASTER, 1, "master")
    ring.run(["api"])  # both removed: one ring of a gone app is kept, the one written to last
    assert set(ring.rings) == {"api", "old", LOG_MASTER}
    ring.add("gone", 5, "a line of an app no longer run")  # it counts itself: "old" goes, the new ring stays
    assert set(ring.rings) == {"api", "gone", LOG_MASTER}


def test_with_room_for_the_masters_ring_alone_an_app_ring_still_starts() -> None:
    ring = LogRing(rings_most=1)
    ring.add(LOG_MASTER, 1, "master")
    ring.add("api", 2, "hello")
    assert texts(read(ring, lines=10)) == ["master", "hello"]


def test_a_cursor_from_an_earlier_master_reads_everything_and_says_so() -> None:
    ring = LogRing()
    ring.add("api", 1, "since the restart")
    answer = read(ring, lines=10, after=5000)
    assert texts(answer) == ["since the restart"]
    assert answer.gap


def test_every_answer_names_the_masters_epoch_drawn_afresh_for_each_ring() -> None:
    ring, other = LogRing(), LogRing()
    assert ring.epoch != other.epoch  # another master: a follower's cursor means nothing to it
    assert len(ring.epoch) == 16
    ring.add("api", 1, "one")
    ring.add("api", 1, "two")
    answers = [read(ring, lines=1), read(ring, lines=1, after=0), read(ring, lines=1, after=1)]
    assert answers[1].more
    assert {answer.epoch for answer in answers} == {ring.epoch}
    assert LogRing(epoch="given").epoch == "given"


def test_the_latest_of_some_apps_keeps_a_quiet_apps_lines_whatever_another_writes() -> None:
    ring = LogRing(lines_per_app=5)
    ring.add("quiet", 2, "quiet one")
    ring.add(LOG_MASTER, 1, "quiet: starting")
    for n in range(50):
        ring.add("chatty", 3, f"flood {n}")
    ring.add("quiet", 2, "quiet two")
    assert texts(read(ring, lines=5)) == ["flood 46", "flood 47", "flood 48", "flood 49", "quiet two"]
    latest = ring.latest(("quiet", LOG_MASTER, "gone"), 10)  # an app without lines adds none
    assert [line.text for line in latest] == ["quiet one", "quiet: starting", "quiet two"]
    assert [line.text for line in ring.latest(("quiet", LOG_MASTER), 2)] == ["quiet: starting", "quiet two"]


def test_the_dashboard_pane_of_one_app_draws_from_its_own_ring_not_the_shared_recent_lines() -> None:
    log = PlainLog(to_stream=False)
    log("quiet", 2, "ERROR: quiet failed")
    log.master_line("quiet: 1 worker of generation 1 ready")
    for n in range(RECENT_LINES):
        log("chatty", 3, f"flood {n}")
    assert not any(line.startswith("quiet[") for line in log.recent)  # pushed out of every app's lines
    assert log.lines_of("quiet") == [
        "quiet[2] ERROR: quiet failed",
        f"serve[{log.pid}] quiet: 1 worker of generation 1 ready",
    ]
    assert len(log.lines_of("chatty")) == RECENT_LINES
    assert log.lines_of("unknown") == [f"serve[{log.pid}] quiet: 1 worker of generation 1 ready"]
