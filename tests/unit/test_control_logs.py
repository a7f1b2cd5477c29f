"""The `logs` command on the wire (control.py), and the desk's answer to an app it does not run."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from supervisor.control import (
    LOG_MASTER,
    Command,
    LogLine,
    Logs,
    LogsAnswer,
    MessageError,
    Reload,
    Reply,
    decode_request,
    encode_request,
)
from supervisor.master.control_desk import ControlDesk, Reloaded
from supervisor.master.logring import LogRing
from supervisor.master.reloads import Outcome, Waiting
from supervisor.status.snapshot import Snapshot


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (Logs(), b'{"command":"logs","lines":200,"app":null,"after":null}\n'),
        (Logs(20, "api", 57), b'{"command":"logs","lines":20,"app":"api","after":57}\n'),
    ],
)
def test_logs_requests_round_trip(command: Logs, line: bytes) -> None:
    assert encode_request(command) == line
    assert decode_request(line) == command


def test_logs_arguments_may_be_left_out_as_an_older_client_does() -> None:
    assert decode_request('{"command":"logs","lines":500}') == Logs(500)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('{"command":"logs","after":-1}', r"after must be a cursor \(an integer, 0 or more\), got -1"),
        ('{"command":"logs","after":true}', "after must be a cursor"),
        ('{"command":"logs","app":""}', "app must be an app name"),
        ('{"command":"logs","lines":1001}', "lines must be an integer from 1 to 1000"),
    ],
)
def test_invalid_logs_arguments_are_refused(line: str, error: str) -> None:
    with pytest.raises(MessageError, match=error):
        decode_request(line)


def test_an_answer_round_trips_through_its_dict() -> None:
    answer = LogsAnswer(
        (LogLine(3, "api", 12, "hi"), LogLine(4, LOG_MASTER, 1, "ok")), 9, more=True, gap=True, epoch="e1"
    )
    assert LogsAnswer.from_dict(answer.to_dict()) == answer
    # A master older than epochs sends none; a malformed one counts as none.
    assert LogsAnswer.from_dict({"lines": [], "cursor": 1}).epoch == ""
    assert LogsAnswer.from_dict({"lines": [], "cursor": 1, "epoch": 7}).epoch == ""
    assert [line.prefixed() for line in answer.lines] == ["api[12] hi", "serve[1] ok"]


@pytest.mark.parametrize(
    ("result", "error"),
    [
        (["api[1] a line"], "expected an object with lines"),
        ({"cursor": 1}, "expected an object with lines"),
        ({"lines": [], "cursor": "1"}, "cursor must be an integer"),
        ({"lines": ["api[1] a line"], "cursor": 1}, "a line must be an object"),
        ({"lines": [{"seq": 1, "app": "api", "pid": 1}], "cursor": 1}, "a line needs seq, app, pid and text"),
        ({"lines": [{"seq": True, "app": "a", "pid": 1, "text": ""}], "cursor": 1}, "a line needs"),
    ],
)
def test_an_answer_of_another_shape_is_refused(result: object, error: str) -> None:
    with pytest.raises(MessageError, match=error):
        LogsAnswer.from_dict(result)


class Master:
    """The parts of the master the desk asks for `logs`."""

    def __init__(self) -> None:
        self.ring = LogRing()

    def app_names(self) -> Sequence[str]:
        return ["api", "web"]

    def execute(self, command: Command) -> object:
        assert isinstance(command, Logs)
        return self.ring.answer(command)

    def reload(self, command: Reload) -> Reloaded | str:
        raise AssertionError("not asked")

    def settle(self, waiting: Waiting, now: float) -> Outcome | None:
        raise AssertionError("not asked")

    def snapshot(self) -> Snapshot:
        raise AssertionError("not asked")


class Server:
    def __init__(self) -> None:
        self.replies: list[Reply] = []

    def reply(self, client: object, reply: Reply) -> None:
        self.replies.append(reply)


@pytest.mark.parametrize("app", [None, "api", LOG_MASTER])
def test_the_desk_answers_logs_of_every_app_one_app_or_the_master(app: str | None) -> None:
    master = Master()
    master.ring.add("api", 7, "hello")
    master.ring.add(LOG_MASTER, 1, "serving")
    desk = ControlDesk(master)
    server = desk.server = Server()  # type: ignore[assignment]
    desk.request("client", Logs(10, app))  # type: ignore[arg-type]
    [reply] = server.replies
    assert reply.ok
    seen = [line.app for line in LogsAnswer.from_dict(reply.result).lines]
    assert seen == [name for name in ("api", LOG_MASTER) if app in (None, name)]


def test_the_desk_refuses_logs_of_an_app_it_does_not_run_naming_those_it_does() -> None:
    desk = ControlDesk(Master())
    server = desk.server = Server()  # type: ignore[assignment]
    desk.request("client", Logs(10, "apii"))  # type: ignore[arg-type]
    assert server.replies == [Reply.failure("no app named 'apii' (apps: api, web; master for the master's own lines)")]
