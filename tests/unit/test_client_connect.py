"""client.request against a control socket whose backlog is full, refused, or gone.

A real unix listener (backlog 0, never accepted until the test says so) stands in for a busy
master: Linux refuses a further non-blocking connect to it with EAGAIN, the case the client
must wait out, unlike a refused connection or a missing file, which mean no master.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from supervisor import client
from supervisor.client import NoMasterError, request
from supervisor.control import Reply, Status, encode_reply
from supervisor.errors import ControlError

CONFIG = "serve.toml"


@pytest.fixture
def socket_path() -> Iterator[str]:
    """A unix socket path short enough for AF_UNIX's 108-byte limit, whatever pytest's tmp_path is."""
    with tempfile.TemporaryDirectory(prefix="serve-") as directory:
        yield str(Path(directory) / "control.sock")


def full_listener(path: str, stack: ExitStack) -> tuple[socket.socket, list[socket.socket]]:
    """A listener nobody accepts on, and the idle clients that fill its backlog (the next connect gets EAGAIN)."""
    listener = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    listener.bind(path)
    listener.listen(0)
    fillers: list[socket.socket] = []
    while True:
        filler = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        filler.setblocking(False)
        try:
            filler.connect(path)
        except BlockingIOError:
            return listener, fillers
        fillers.append(filler)
        assert len(fillers) < 100, "the backlog never filled"


def test_a_full_backlog_is_waited_for_until_the_timeout_then_called_busy(socket_path: str) -> None:
    with ExitStack() as stack:
        full_listener(socket_path, stack)
        started = time.monotonic()
        with pytest.raises(ControlError) as raised:
            request(socket_path, Status(), config_path=CONFIG, timeout=0.4)
        took = time.monotonic() - started
    assert not isinstance(raised.value, NoMasterError)
    assert f"the master of {CONFIG} is busy" in str(raised.value)
    assert "within 0.4 s" in str(raised.value)
    assert 0.4 <= took < 2.0


def test_a_connect_refused_for_a_full_backlog_is_tried_again_and_answered(
    socket_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master makes room only after the client was refused once: the retry must reach it."""
    refused_once = threading.Event()
    pause = time.sleep

    def sleep(seconds: float) -> None:  # the client pauses only after a refused connect
        refused_once.set()
        pause(seconds)

    monkeypatch.setattr(time, "sleep", sleep)  # client.py calls time.sleep: patched where it looks it up
    with ExitStack() as stack:
        listener, fillers = full_listener(socket_path, stack)
        listener.settimeout(10)

        def master() -> None:
            assert refused_once.wait(10)
            for _ in fillers:  # the idle clients first, as a master accepts in order
                listener.accept()[0].close()
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                assert conn.recv(65536).endswith(b"\n")
                conn.sendall(encode_reply(Reply.success({"answered": True})))

        thread = threading.Thread(target=master, daemon=True)
        thread.start()
        reply = request(socket_path, Status(), config_path=CONFIG, timeout=10)
        thread.join(10)
    assert refused_once.is_set()
    assert reply == Reply.success({"answered": True})


def test_a_stale_socket_file_fails_at_once_as_no_master(socket_path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:  # bound, never listening: refused
        bound.bind(socket_path)
        started = time.monotonic()
        with pytest.raises(NoMasterError, match=f"no master is running for {CONFIG}"):
            request(socket_path, Status(), config_path=CONFIG, timeout=10)
    assert time.monotonic() - started < 1.0


def test_a_missing_socket_file_fails_at_once_as_no_master(socket_path: str) -> None:
    started = time.monotonic()
    with pytest.raises(NoMasterError, match=f"no master listens on {socket_path}"):
        request(socket_path, Status(), config_path=socket_path, timeout=10)
    assert time.monotonic() - started < 1.0


def test_send_waits_out_a_full_backlog_too(socket_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's fire-and-forget commands go through the same connect: busy is not 'no master'."""
    monkeypatch.setattr(client, "DEFAULT_TIMEOUT_S", 0.2)
    with ExitStack() as stack:
        full_listener(socket_path, stack)
        with pytest.raises(ControlError, match="is busy") as raised:
            client.send(socket_path, Status(), config_path=CONFIG)
    assert not isinstance(raised.value, NoMasterError)
