"""control.py: signals to commands, and the control socket's JSON-lines requests and replies."""

from __future__ import annotations

import re
import signal

import pytest

from supervisor.control import (
    MAX_LINE_BYTES,
    Command,
    MessageError,
    Reload,
    ReopenLogs,
    Reply,
    Scale,
    ScaleBy,
    Status,
    Stop,
    Upgrade,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    signal_to_command,
)


@pytest.mark.parametrize(
    ("signum", "command"),
    [
        (signal.SIGHUP, Reload(None)),
        (signal.SIGTERM, Stop(now=False)),
        (signal.SIGINT, Stop(now=False)),
        (signal.SIGQUIT, Stop(now=True)),
        (signal.SIGTTIN, ScaleBy(+1)),
        (signal.SIGTTOU, ScaleBy(-1)),
        (signal.SIGUSR1, ReopenLogs()),
        (signal.SIGCHLD, None),
        (signal.SIGUSR2, Upgrade()),
        (signal.SIGWINCH, None),
    ],
)
def test_signals_map_to_commands(signum: int, command: Command | None) -> None:
    assert signal_to_command(signum) == command


def test_a_second_interrupt_means_stop_now() -> None:
    assert signal_to_command(signal.SIGINT, second_interrupt=True) == Stop(now=True)
    assert signal_to_command(signal.SIGTERM, second_interrupt=True) == Stop(now=False)


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (Reload(), b'{"command":"reload","app":null}\n'),
        (Reload("api"), b'{"command":"reload","app":"api"}\n'),
        (Scale("api", 4), b'{"command":"scale","app":"api","workers":4}\n'),
        (ScaleBy(-1), b'{"command":"scale_by","delta":-1,"app":null}\n'),
        (ScaleBy(2, "chat"), b'{"command":"scale_by","delta":2,"app":"chat"}\n'),
        (Stop(), b'{"command":"stop","now":false}\n'),
        (Stop(now=True), b'{"command":"stop","now":true}\n'),
        (ReopenLogs(), b'{"command":"reopen_logs"}\n'),
        (Status(), b'{"command":"status"}\n'),
    ],
)
def test_requests_round_trip_as_one_json_line(command: Command, line: bytes) -> None:
    assert encode_request(command) == line
    assert decode_request(line) == command
    assert decode_request(line.decode()) == command


def test_arguments_with_defaults_may_be_left_out() -> None:
    assert decode_request('{"command": "reload"}') == Reload()
    assert decode_request('{"command": "scale_by", "delta": 1}') == ScaleBy(1)
    assert decode_request('{"command": "stop"}') == Stop()
    assert decode_request('{"command": "reload", "app": "api"}') == Reload("api")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "request: not JSON"),
        (b"\xff\n", "request: not JSON"),
        ("[1, 2]", "request: expected a JSON object, got [1, 2]"),
        ("{}", "request: unknown command null; expected one of reload, scale, scale_by, stop, reopen_logs, status"),
        ('{"command": "reboot"}', 'request: unknown command "reboot"'),
        ('{"command": 3}', "request: unknown command 3"),
        ('{"command": "scale", "app": "api"}', "request: scale: missing argument 'workers'"),
        ('{"command": "scale", "workers": 2}', "request: scale: missing argument 'app'"),
        ('{"command": "scale", "app": null, "workers": 2}', "request: scale: app must be an app name, got null"),
        ('{"command": "scale", "app": "", "workers": 2}', 'request: scale: app must be an app name, got ""'),
        (
            '{"command": "scale", "app": "api", "workers": 0}',
            "request: scale: workers must be a positive integer, got 0",
        ),
        ('{"command": "scale", "app": "api", "workers": 2.5}', "request: scale: workers must be a positive integer"),
        ('{"command": "scale", "app": "api", "workers": true}', "request: scale: workers must be a positive integer"),
        ('{"command": "scale_by", "delta": 0}', "request: scale_by: delta must be a non-zero integer, got 0"),
        ('{"command": "stop", "now": 1}', "request: stop: now must be true or false, got 1"),
        ('{"command": "status", "verbose": true}', "request: status: unknown argument 'verbose'"),
        ('{"command": "reload", "app": 7}', "request: reload: app must be an app name, got 7"),
    ],
)
def test_bad_requests_say_what_is_wrong(line: str | bytes, message: str) -> None:
    with pytest.raises(MessageError, match="^" + re.escape(message)):
        decode_request(line)


def test_an_oversized_line_is_refused_before_parsing() -> None:
    with pytest.raises(MessageError, match=f"longer than {MAX_LINE_BYTES} bytes"):
        decode_request(b" " * (MAX_LINE_BYTES + 1))


def test_replies_round_trip() -> None:
    ok = Reply.success({"reloaded": ["api"]})
    assert encode_reply(ok) == b'{"ok":true,"error":null,"result":{"reloaded":["api"]}}\n'
    assert decode_reply(encode_reply(ok)) == ok
    failed = Reply.failure("no app named 'apii'")
    assert encode_reply(failed) == b'{"ok":false,"error":"no app named \'apii\'","result":null}\n'
    assert decode_reply(encode_reply(failed)) == failed
    assert decode_reply(encode_reply(Reply.success())) == Reply(ok=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nope", "reply: not JSON"),
        ('"ok"', 'reply: expected a JSON object, got "ok"'),
        ('{"ok": "yes"}', 'reply: ok must be true or false, got "yes"'),
        ('{"ok": true, "error": 5}', "reply: error must be a string or null, got 5"),
        ('{"ok": false, "error": null}', "reply: a failed reply must say why (error is null)"),
    ],
)
def test_bad_replies_are_refused(line: str, message: str) -> None:
    with pytest.raises(MessageError, match="^" + re.escape(message)):
        decode_reply(line)


def test_a_result_that_is_not_json_cannot_be_sent() -> None:
    with pytest.raises(TypeError):
        encode_reply(Reply.success(object()))
