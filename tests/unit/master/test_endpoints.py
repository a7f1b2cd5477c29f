"""The master's side endpoints (HTTP probes, control socket) in a real Reactor on real sockets.

The loop is driven here the way the arbiter drives it: each turn expires what is due, then
polls no longer than the earliest deadline. Loopback TCP and unix sockets only.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervisor.config.convert import TcpBind, UnixBind
from supervisor.config.schema import ServerSection
from supervisor.control import Command, Reload, Reply, Status, encode_request
from supervisor.master.control_server import ControlClient, ControlServer
from supervisor.master.endpoints import Endpoints
from supervisor.master.fdbudget import FdBudget, descriptors_left
from supervisor.master.handover import Handover
from supervisor.master.http_endpoint import EVICT_AFTER_S, HttpEndpoint, Route
from supervisor.master.reactor import READ, WRITE, Reactor
from supervisor.master.side_server import ACCEPT_PAUSE_S, SideServer
from supervisor.status.snapshot import Snapshot

LIMIT_S = 5.0
SHORT_S = 0.3  # request and reply deadlines in these tests


class CheckedReactor(Reactor):
    """A Reactor that fails the test if a watched descriptor is forgotten after it was closed."""

    def forget(self, fd: int) -> None:
        if self.watched(fd):
            os.fstat(fd)  # OSError (EBADF): closed while still watched
        super().forget(fd)


@pytest.fixture
def reactor() -> Iterator[CheckedReactor]:
    checked = CheckedReactor()
    yield checked
    assert checked.failures == 0 or checked.on_failure is not None
    checked.close_selector()


def turn(reactor: Reactor, servers: list[SideServer], cap: float = 0.05) -> None:
    """One turn of the master's loop: expire, then poll until the first deadline."""
    now = time.monotonic()
    for server in servers:
        server.expire(now)
    deadlines = [d for d in (s.next_deadline() for s in servers) if d is not None]
    reactor.poll(min([cap, *(d - now for d in deadlines)]))


def run_until(reactor: Reactor, servers: list[SideServer], done: Callable[[], bool], limit: float = LIMIT_S) -> None:
    end = time.monotonic() + limit
    while not done():
        assert time.monotonic() < end, f"not done within {limit} s"
        turn(reactor, servers)


def routes(**extra: Route) -> dict[str, Route]:
    table: dict[str, Route] = {"/livez": lambda: (200, "text/plain", b"ok\n")}
    table.update({f"/{name}": route for name, route in extra.items()})
    return table


def endpoint_on(reactor: Reactor, table: dict[str, Route] | None = None, **options: object) -> HttpEndpoint:
    return HttpEndpoint(TcpBind("127.0.0.1", 0), table or routes(), reactor, **options)  # type: ignore[arg-type]


def connect(endpoint: HttpEndpoint, *, rcvbuf: int | None = None) -> socket.socket:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    client.settimeout(LIMIT_S)
    client.connect(endpoint.sock.getsockname())
    return client


def read_into(sock: socket.socket, received: bytearray) -> None:
    """Everything until the server closes (it has, or is about to: the test drove it there)."""
    while chunk := sock.recv(1 << 20):
        received += chunk


def read_all(sock: socket.socket) -> bytes:
    received = bytearray()
    read_into(sock, received)
    return bytes(received)


def answered(client: socket.socket) -> bool:
    """Whether the server wrote to `client` or closed it (a short answer is written whole, then closed)."""
    return bool(select.select([client], [], [], 0)[0])


def ask(reactor: Reactor, endpoint: HttpEndpoint, request: bytes) -> bytes:
    with connect(endpoint) as client:
        client.sendall(request)
        run_until(reactor, [endpoint], lambda: answered(client))
        return read_all(client)


class FixedBudget(FdBudget):
    """A budget that always has `left` descriptors, whatever the process holds."""

    def __init__(self, left: int) -> None:
        super().__init__()
        self.left = left

    def remaining(self) -> int:
        return self.left

    def spent(self, count: int = 1) -> None:
        pass


# --- HTTP ---------------------------------------------------------------------------------


def test_a_probe_is_answered_and_the_connection_closed(reactor: Reactor) -> None:
    endpoint = endpoint_on(reactor)
    try:
        with connect(endpoint) as client:
            run_until(reactor, [endpoint], lambda: len(endpoint.clients) == 1)
            client.sendall(b"GET /livez?verbose HTTP/1.1\r\nHost: x\r\n")
            turn(reactor, [endpoint])
            assert len(endpoint.clients) == 1, "half a head is not a request"
            client.sendall(b"\r\n")
            run_until(reactor, [endpoint], lambda: not endpoint.clients)
            answer = read_all(client)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"connection: close\r\n" in answer
        assert answer.endswith(b"\r\n\r\nok\n")
        head = ask(reactor, endpoint, b"HEAD /livez HTTP/1.1\r\n\r\n")
        assert b"content-length: 3\r\n" in head
        assert head.endswith(b"\r\n\r\n")
        assert ask(reactor, endpoint, b"GET /nope HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
        refused = ask(reactor, endpoint, b"POST /livez HTTP/1.1\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 405 ")
        assert b"allow: GET, HEAD\r\n" in refused
        too_large = ask(reactor, endpoint, b"GET /livez HTTP/1.1\r\n" + b"x: y\r\n" * 2000)
        assert too_large.startswith(b"HTTP/1.1 431 ")
    finally:
        endpoint.close()
    assert not reactor.watched(endpoint.listen_fd)


def test_a_request_line_that_does_not_parse_is_a_400_not_a_405(reactor: Reactor) -> None:
    endpoint = endpoint_on(reactor)
    try:
        for garbage in (b"GARBAGE\r\n\r\n", b"\r\n\r\n", b"GET /livez\r\n\r\n", b"G(T /livez HTTP/1.1\r\n\r\n"):
            answer = ask(reactor, endpoint, garbage)
            assert answer.startswith(b"HTTP/1.1 400 "), garbage
            assert b"allow:" not in answer
        assert ask(reactor, endpoint, b"GET /livez SPDY/3\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        # RFC 9112 §2.2: an empty line before the request line is skipped, not taken for it.
        assert ask(reactor, endpoint, b"\r\nGET /livez HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200 ")
        assert ask(reactor, endpoint, b"DELETE /livez HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    finally:
        endpoint.close()


def test_an_idle_client_and_a_slow_one_are_closed_at_their_deadline(reactor: Reactor) -> None:
    endpoint = endpoint_on(reactor, request_timeout=SHORT_S)
    try:
        with connect(endpoint) as idle, connect(endpoint) as slow:
            slow.sendall(b"GET /livez HTTP/1.1\r\n")
            run_until(reactor, [endpoint], lambda: len(endpoint.clients) == 2)
            started = time.monotonic()
            deadline = endpoint.next_deadline()
            assert deadline is not None
            assert deadline <= started + SHORT_S
            run_until(reactor, [endpoint], lambda: not endpoint.clients)
            assert endpoint.expired == 2
            assert idle.recv(1) == b""
            assert slow.recv(1) == b""
        assert endpoint.next_deadline() is None
    finally:
        endpoint.close()


def test_a_client_that_never_reads_a_large_reply_neither_blocks_the_loop_nor_stays(reactor: Reactor) -> None:
    big = b"x" * (4 << 20)
    endpoint = endpoint_on(reactor, routes(metrics=lambda: (200, "text/plain", big)), reply_timeout=SHORT_S * 2)
    try:
        with connect(endpoint, rcvbuf=4096) as stuck:
            stuck.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            run_until(reactor, [endpoint], lambda: any(c.outgoing is not None for c in endpoint.clients.values()))
            (client,) = endpoint.clients.values()
            assert client.outgoing is not None
            assert 0 < len(client.outgoing) < len(big), "part written, the rest waits for the socket"
            assert reactor.entries[client.fd].events == WRITE
            # Meanwhile the loop turns and others are served.
            started = time.monotonic()
            assert ask(reactor, endpoint, b"GET /livez HTTP/1.1\r\n\r\n").endswith(b"ok\n")
            assert time.monotonic() - started < SHORT_S * 2
            run_until(reactor, [endpoint], lambda: not endpoint.clients)
            assert endpoint.expired == 1
            received = bytearray()
            with pytest.raises(ConnectionResetError):  # aborted: a reset, not what looks like a short body
                read_into(stuck, received)
            assert len(received) < len(big)
    finally:
        endpoint.close()


def test_clients_over_the_cap_wait_in_the_backlog_until_one_leaves(reactor: Reactor) -> None:
    endpoint = endpoint_on(reactor, cap=2, evict_after=None)
    try:
        with connect(endpoint) as first, connect(endpoint) as second, connect(endpoint) as third:
            run_until(reactor, [endpoint], lambda: len(endpoint.clients) == 2)
            for _ in range(3):
                turn(reactor, [endpoint])
            assert len(endpoint.clients) == 2
            assert reactor.entries[endpoint.listen_fd].events == 0, "a full endpoint does not watch its socket"
            third.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
            first.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
            run_until(reactor, [endpoint], lambda: answered(first) and answered(third))  # third in once first left
            assert read_all(first).endswith(b"ok\n")
            assert read_all(third).endswith(b"ok\n")
            assert reactor.entries[endpoint.listen_fd].events == READ
            second.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
            run_until(reactor, [endpoint], lambda: not endpoint.clients)
            assert read_all(second).endswith(b"ok\n")
        assert endpoint.refused == endpoint.expired == 0
    finally:
        endpoint.close()


def test_at_the_cap_the_longest_silent_client_makes_room_for_a_probe(reactor: Reactor) -> None:
    now = [100.0]
    endpoint = endpoint_on(reactor, cap=2, clock=lambda: now[0])

    def until(done: Callable[[], bool]) -> None:  # the loop's turns, on the endpoint's own clock
        end = time.monotonic() + LIMIT_S
        while not done():
            assert time.monotonic() < end, "not done in time"
            endpoint.expire(now[0])
            reactor.poll(0.02)

    try:
        with connect(endpoint) as first:
            until(lambda: len(endpoint.clients) == 1)
            now[0] += 0.1
            with connect(endpoint) as second:
                until(lambda: len(endpoint.clients) == 2)
                with connect(endpoint) as probe:
                    probe.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
                    for _ in range(5):
                        endpoint.expire(now[0])
                        reactor.poll(0.02)
                    assert not answered(probe)  # both silent for less than EVICT_AFTER_S: it waits
                    assert endpoint.next_deadline() == 100.0 + EVICT_AFTER_S  # when the first may make room
                    now[0] = 100.0 + EVICT_AFTER_S
                    until(lambda: answered(probe))
                    assert read_all(probe).endswith(b"ok\n")
                assert read_all(first) == b""  # closed to make room: the longest silent one
                assert endpoint.evicted == 1
                second.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
                until(lambda: answered(second))
                assert read_all(second).endswith(b"ok\n")
    finally:
        endpoint.close()


def test_short_of_descriptors_probes_are_turned_away_and_the_control_socket_still_answers(
    reactor: Reactor, tmp_path: Path
) -> None:
    budget = FixedBudget(20)  # below the endpoints' reserve (32), above the control socket's (8)
    endpoint = endpoint_on(reactor, budget=budget)
    control = ControlServer(
        str(tmp_path / "ctl"), reactor, lambda client, _: control.reply(client, Reply.success("here")), budget=budget
    )
    try:
        with connect(endpoint) as probe:
            run_until(reactor, [endpoint, control], lambda: endpoint.refused == 1)
            answer = read_all(probe)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"file descriptors" in answer
        assert not endpoint.clients
        assert control_ask(reactor, control, Status(), [endpoint]) == {"ok": True, "error": None, "result": "here"}
        budget.left = 5
        with unix_client(control) as client:
            run_until(reactor, [endpoint, control], lambda: control.refused == 1)
            refusal = json.loads(read_all(client))
        assert refusal["ok"] is False
        assert "file descriptors" in refusal["error"]
    finally:
        endpoint.close()
        control.close()


def test_emfile_on_accept_pauses_accepting_then_it_recovers(reactor: Reactor) -> None:
    endpoint = endpoint_on(reactor, budget=FixedBudget(1 << 20))
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # its descriptor, before the limit falls
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # no descriptor left to accept into
        client.connect(endpoint.sock.getsockname())
        failed_at = time.monotonic()
        assert reactor.poll(LIMIT_S) == 1
        assert endpoint.pauses == 1
        assert endpoint.paused_until is not None
        assert endpoint.next_deadline() == endpoint.paused_until
        assert failed_at <= endpoint.paused_until <= time.monotonic() + ACCEPT_PAUSE_S
        assert reactor.entries[endpoint.listen_fd].events == 0
        assert reactor.poll(0.2) == 0, "the pending connection must not wake the loop while paused"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with client:
        client.settimeout(LIMIT_S)
        client.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
        run_until(reactor, [endpoint], lambda: endpoint.paused_until is None)
        assert time.monotonic() >= failed_at + ACCEPT_PAUSE_S
        assert reactor.entries[endpoint.listen_fd].events == READ
        run_until(reactor, [endpoint], lambda: answered(client))
        assert read_all(client).endswith(b"ok\n")
    assert endpoint.pauses == 1
    assert reactor.failures == 0
    endpoint.close()


# --- the control socket -------------------------------------------------------------------


def unix_client(control: ControlServer) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(LIMIT_S)
    client.connect(control.path)
    return client


def control_ask(
    reactor: Reactor, control: ControlServer, command: Command, others: list[SideServer] | None = None
) -> object:
    with unix_client(control) as client:
        client.sendall(encode_request(command))
        run_until(reactor, [control, *(others or [])], lambda: answered(client))
        return json.loads(read_all(client))


class Arbiter:
    """Stands in for the arbiter: records requests, answers Status at once, holds a reload of every app.

    Any other request is left unanswered, as a buggy arbiter might.
    """

    def __init__(self, tmp_path: Path, reactor: Reactor, **options: object) -> None:
        self.requests: list[Command] = []
        self.held: list[ControlClient] = []
        self.gone: list[ControlClient] = []
        self.control = ControlServer(
            str(tmp_path / "ctl"),
            reactor,
            self.on_request,
            on_gone=self.gone.append,
            **options,  # type: ignore[arg-type]
        )

    def on_request(self, client: ControlClient, command: Command) -> None:
        self.requests.append(command)
        if isinstance(command, Status):
            self.control.reply(client, Reply.success({"apps": []}))
        elif command == Reload():
            self.control.hold(client)
            self.held.append(client)


def test_a_request_reaches_the_arbiter_and_its_reply_the_client(reactor: Reactor, tmp_path: Path) -> None:
    arbiter = Arbiter(tmp_path, reactor)
    try:
        assert control_ask(reactor, arbiter.control, Status()) == {"ok": True, "error": None, "result": {"apps": []}}
        assert arbiter.requests == [Status()]
        with unix_client(arbiter.control) as client:
            client.sendall(b'{"command": "explode"}\n')
            run_until(reactor, [arbiter.control], lambda: answered(client))
            refused = json.loads(read_all(client))
        assert refused["ok"] is False
        assert "explode" in refused["error"]
        assert arbiter.requests == [Status()], "a malformed request never reaches the arbiter"
    finally:
        arbiter.control.close()
    assert not Path(arbiter.control.path).exists()


def test_a_held_client_outlives_the_timeouts_and_gets_its_late_reply(reactor: Reactor, tmp_path: Path) -> None:
    arbiter = Arbiter(tmp_path, reactor, request_timeout=SHORT_S, reply_timeout=SHORT_S)
    control = arbiter.control
    try:
        with unix_client(control) as held, unix_client(control) as unanswered:
            held.sendall(encode_request(Reload()))
            unanswered.sendall(encode_request(Reload(app="x")))
            run_until(reactor, [control], lambda: len(arbiter.requests) == 2)
            end = time.monotonic() + SHORT_S * 3
            run_until(reactor, [control], lambda: time.monotonic() > end)
            assert control.expired == 1
            assert unanswered.recv(1) == b"", "an unanswered request is closed at its deadline"
            assert list(control.clients.values()) == arbiter.held
            assert control.next_deadline() is None, "a held client has no deadline"
            control.reply(arbiter.held[0], Reply.success({"api": 2}))
            run_until(reactor, [control], lambda: not control.clients)
            assert json.loads(read_all(held)) == {"ok": True, "error": None, "result": {"api": 2}}
        assert arbiter.gone == []
    finally:
        control.close()


def test_a_held_client_that_hangs_up_is_reported_and_a_late_reply_is_a_no_op(reactor: Reactor, tmp_path: Path) -> None:
    arbiter = Arbiter(tmp_path, reactor)
    control = arbiter.control
    try:
        with unix_client(control) as client:
            client.sendall(encode_request(Reload()))  # as the dashboard sends it: no wait for the answer
        run_until(reactor, [control], lambda: bool(arbiter.gone))
        assert arbiter.gone == arbiter.held
        assert not control.clients
        control.reply(arbiter.held[0], Reply.success())  # the arbiter's reply, arriving after
        assert not control.clients
    finally:
        control.close()


def test_closing_tells_every_waiting_client_why(reactor: Reactor, tmp_path: Path) -> None:
    arbiter = Arbiter(tmp_path, reactor)
    with unix_client(arbiter.control) as held, unix_client(arbiter.control) as idle:
        held.sendall(encode_request(Reload()))
        run_until(reactor, [arbiter.control], lambda: len(arbiter.control.clients) == 2 and bool(arbiter.held))
        arbiter.control.close("the master stopped before the reload finished")
        for client in (held, idle):
            reply = json.loads(read_all(client))
            assert reply["error"] == "the master stopped before the reload finished"
    assert not reactor.entries
    assert not Path(arbiter.control.path).exists()


def test_an_arbiter_callback_that_raises_costs_its_client_only(reactor: Reactor, tmp_path: Path) -> None:
    failures: list[str] = []
    reactor.on_failure = lambda name, _: failures.append(name)

    def on_request(client: ControlClient, command: Command) -> None:
        if isinstance(command, Reload):
            raise RuntimeError("a bug in the arbiter")
        control.reply(client, Reply.success())

    control = ControlServer(str(tmp_path / "ctl"), reactor, on_request)
    try:
        with unix_client(control) as client:
            client.sendall(encode_request(Reload()))
            run_until(reactor, [control], lambda: answered(client))
            assert read_all(client) == b""
        assert failures == [f"a client of the control socket {control.path}"]
        assert control_ask(reactor, control, Status()) == {"ok": True, "error": None, "result": None}
    finally:
        control.close()


# --- the descriptor budget ----------------------------------------------------------------


def test_the_budget_counts_descriptors_and_is_measured_at_most_once_per_interval() -> None:
    clock = [100.0]
    budget = FdBudget(interval=1.0, clock=lambda: clock[0])
    first = budget.remaining()
    assert abs(first - descriptors_left()) <= 1
    fds = [os.dup(0) for _ in range(5)]
    try:
        assert descriptors_left() == first - 5
        assert budget.remaining() == first, "not measured again within the interval"
        budget.spent(2)
        assert budget.remaining() == first - 2
        clock[0] += 1.0
        assert budget.remaining() == first - 5
    finally:
        for fd in fds:
            os.close(fd)


def test_the_budget_is_nil_at_the_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
        left = descriptors_left()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert left == 0


def test_a_listing_that_fails_for_want_of_memory_is_not_a_shortage_of_descriptors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under an address-space limit os.listdir fails with ENOMEM: probes must not say 'short of descriptors'."""

    def no_memory(_: str) -> list[str]:
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(os, "listdir", no_memory)
    assert descriptors_left() == resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_a_unix_http_endpoint_removes_its_file(reactor: Reactor, tmp_path: Path) -> None:
    path = tmp_path / "health"
    endpoint = HttpEndpoint(UnixBind(str(path)), routes(), reactor)
    assert path.exists()
    endpoint.close()
    assert not path.exists()
    assert not reactor.entries


# --- `serve upgrade`: a socket handed over, in standby until this master takes over ---------------


def test_an_endpoint_on_a_handed_over_socket_accepts_nobody_until_it_takes_over(reactor: Reactor) -> None:
    old = HttpEndpoint(TcpBind("127.0.0.1", 0), routes(), reactor)  # the old master's, on the same socket
    old.hand_over()
    new = HttpEndpoint(old.bind, routes(), reactor, sock=old.sock.dup(), standby=True)
    try:
        assert not reactor.watched(new.listen_fd)
        with connect(new) as waiting:  # the kernel's queue holds it: neither master accepts
            waiting.sendall(b"GET /livez HTTP/1.1\r\n\r\n")
            end = time.monotonic() + SHORT_S
            while time.monotonic() < end:
                turn(reactor, [old, new])
            assert not new.clients
            assert not old.clients
            assert not answered(waiting)
            new.take_over()
            assert reactor.watched(new.listen_fd)
            run_until(reactor, [old, new], lambda: answered(waiting))
            assert read_all(waiting).endswith(b"ok\n")
    finally:
        new.close()
        old.close()


def test_a_handed_over_endpoint_answers_its_accepted_clients_as_at_the_hand_over(reactor: Reactor) -> None:
    state = {"ready": True}

    def readyz() -> tuple[int, str, bytes]:
        return (200, "text/plain", b"ready\n") if state["ready"] else (503, "text/plain", b"stopping\n")

    endpoint = endpoint_on(reactor, routes(readyz=readyz))
    try:
        with connect(endpoint) as early:
            run_until(reactor, [endpoint], lambda: len(endpoint.clients) == 1)
            endpoint.hand_over()
            state["ready"] = False  # the old master stops: its own readiness changes
            assert not reactor.watched(endpoint.listen_fd), "the new master accepts from now on"
            early.sendall(b"GET /readyz HTTP/1.1\r\n\r\n")
            run_until(reactor, [endpoint], lambda: answered(early))
            assert read_all(early).startswith(b"HTTP/1.1 200 ")
    finally:
        endpoint.close()


def test_a_unix_endpoint_in_standby_leaves_the_file_to_the_old_master_until_it_takes_over(
    reactor: Reactor, tmp_path: Path
) -> None:
    path = tmp_path / "health"
    old = HttpEndpoint(UnixBind(str(path)), routes(), reactor)
    try:
        standby = HttpEndpoint(old.bind, routes(), reactor, sock=old.sock.dup(), standby=True)
        standby.close()
        assert path.exists(), "not this master's file yet"
        taken = HttpEndpoint(old.bind, routes(), reactor, sock=old.sock.dup(), standby=True)
        old.hand_over()
        taken.take_over()
        taken.close()
        assert not path.exists(), "the file is the new master's once it took over"
    finally:
        old.close()
    assert not reactor.entries


def test_the_endpoints_serve_a_socket_handed_over_at_their_address_and_bind_the_others(
    reactor: Reactor, tmp_path: Path
) -> None:
    def no_snapshot() -> Snapshot:
        raise RuntimeError("no master here")  # the hand over tries the routes: a failing one stays live

    predecessor = HttpEndpoint(TcpBind("127.0.0.1", 0), routes(), reactor)  # the old master's metrics_bind
    metrics = TcpBind("127.0.0.1", predecessor.sock.getsockname()[1])
    health = UnixBind(str(tmp_path / "health"))
    leftover = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # an endpoint the new file no longer has
    leftover_fd = leftover.detach()
    handed = {str(metrics): os.dup(predecessor.listen_fd), "127.0.0.1:1": leftover_fd}
    handover = Handover(os.dup(0), None, endpoint_fds=handed)
    server = ServerSection(metrics_bind=metrics, health_bind=health)
    endpoints = Endpoints(reactor, FdBudget())
    try:
        endpoints.open(server, handover, snapshot=no_snapshot, readiness=lambda: (200, "text/plain", b"ready\n"))
        by_bind = {endpoint.bind: endpoint for endpoint in endpoints}
        assert by_bind[metrics].standby, "on the old master's socket: it answers until this one takes over"
        assert by_bind[metrics].sock.getsockname() == predecessor.sock.getsockname()
        assert not by_bind[health].standby, "a new address is bound and served at once"
        assert handover.endpoint_fds == {}
        with pytest.raises(OSError):
            os.fstat(leftover_fd)  # closed: the old master's alone
        assert set(endpoints.sockets()) == {str(metrics), f"unix:{tmp_path / 'health'}"}
        endpoints.take_over()
        assert not by_bind[metrics].standby
        assert reactor.watched(by_bind[metrics].listen_fd)
        endpoints.hand_over()
        assert not any(reactor.watched(endpoint.listen_fd) for endpoint in endpoints)
    finally:
        handover.close()
        endpoints.close()
        predecessor.close()
    assert (tmp_path / "health").exists(), "handed over: the file is the next master's"
