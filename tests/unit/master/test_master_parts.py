"""The arbiter's small parts, each alone: probes' answers, sockets kept, the pid file, the control desk, systemd's link."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from supervisor.config.convert import TcpBind
from supervisor.config.schema import ServerSection
from supervisor.control import Command, Reload, Reply, Scale, Status, Stop
from supervisor.master import pidfile, probes
from supervisor.master.control_desk import ControlDesk, Reloaded
from supervisor.master.reloads import Outcome, Waiting
from supervisor.master.systemd_link import SystemdLink, summary
from supervisor.status.snapshot import Snapshot

A, B, C, D = (TcpBind("127.0.0.1", port) for port in (8001, 8002, 8003, 8004))


def test_readyz_is_503_while_stopping_or_an_app_has_no_ready_worker() -> None:
    assert probes.readyz(stopping=True, waiting=[])[0] == 503
    assert probes.readyz(stopping=False, waiting=["api"]) == (503, "text/plain", b"no ready worker yet: api\n")
    assert probes.readyz(stopping=False, waiting=[])[0] == 200
    assert probes.livez()[0] == 200


def test_metrics_and_health_share_one_endpoint_when_they_share_an_address() -> None:
    server = ServerSection(metrics_bind=A, health_bind=A)
    tables = probes.routes(server, snapshot=lambda: Snapshot(1, "f", 0.0, 0.0), readiness=probes.livez)
    assert list(tables) == [A]
    assert sorted(tables[A]) == ["/livez", "/metrics", "/readyz"]
    assert tables[A]["/metrics"]()[0] == 200
    assert probes.routes(ServerSection(), snapshot=lambda: Snapshot(1, "f", 0.0, 0.0), readiness=probes.livez) == {}


def test_the_pid_file_is_written_moved_and_removed_only_while_ours(tmp_path: Path) -> None:
    first, second = str(tmp_path / "a.pid"), str(tmp_path / "b.pid")
    pidfile.write(first)
    assert Path(first).read_text() == f"{os.getpid()}\n"
    pidfile.move(first, second)
    assert not Path(first).exists()
    assert Path(second).read_text() == f"{os.getpid()}\n"
    Path(second).write_text("1\n")  # another master's by now
    pidfile.remove(second)
    assert Path(second).exists()
    pidfile.write(None)
    pidfile.remove(None)


class FakeServer:
    def __init__(self) -> None:
        self.replies: list[tuple[object, Reply]] = []
        self.held: list[tuple[object, float | None]] = []

    def reply(self, client: object, reply: Reply) -> None:
        self.replies.append((client, reply))

    def hold(self, client: object, until: float | None = None) -> None:
        self.held.append((client, until))


class FakeMaster:
    def __init__(self) -> None:
        self.executed: list[Command] = []
        self.result: Outcome | None = None
        self.refusal: str | None = None

    def app_names(self) -> Sequence[str]:
        return ["api"]

    def execute(self, command: Command) -> object:
        self.executed.append(command)
        return None

    def reload(self, command: Reload) -> Reloaded | str:
        if self.refusal is not None:
            return self.refusal
        waiting = Waiting.begin({"api": 2}, {"api": 0}, now=0.0, startup_timeout=10.0)
        return Reloaded(waiting, ("control_socket",), ("old",))

    def settle(self, waiting: Waiting, now: float) -> Outcome | None:
        return self.result

    def snapshot(self) -> Snapshot:
        return Snapshot(1, "f", 0.0, 0.0)


def desk_with(master: FakeMaster) -> tuple[ControlDesk, FakeServer]:
    desk = ControlDesk(master)
    server = FakeServer()
    desk.server = server  # type: ignore[assignment]  # the two methods the desk calls
    return desk, server


def test_the_desk_answers_at_once_except_a_reload_which_it_holds_until_its_outcome() -> None:
    master = FakeMaster()
    desk, server = desk_with(master)
    desk.request("status", Status())  # type: ignore[arg-type]
    desk.request("scale", Scale("web", 2))  # type: ignore[arg-type]
    desk.request("stop", Stop(now=False))  # type: ignore[arg-type]
    assert [reply.ok for _, reply in server.replies] == [True, False, True]
    assert master.executed == [Stop(now=False)]
    desk.request("reload", Reload(None))  # type: ignore[arg-type]
    assert server.held == [("reload", 15.0 + 5.0)]
    desk.answer(1.0)
    assert len(server.replies) == 3  # still rolling
    master.result = Outcome(True, {"api": 2})
    desk.answer(2.0)
    assert server.replies[-1] == (
        "reload",
        Reply.success({"generations": {"api": 2}, "restart_needed": ["control_socket"], "removed": ["old"]}),
    )


def test_a_reload_client_that_left_is_forgotten_and_the_rest_told_at_exit() -> None:
    master = FakeMaster()
    desk, server = desk_with(master)
    desk.request("gone", Reload(None))  # type: ignore[arg-type]
    desk.request("stays", Reload(None))  # type: ignore[arg-type]
    desk.gone("gone")  # type: ignore[arg-type]
    desk.shut()
    assert server.replies == [("stays", Reply.failure("the master stopped before the reload finished"))]


def test_a_refused_reload_and_an_unknown_app_are_answered_at_once() -> None:
    master = FakeMaster()
    desk, server = desk_with(master)
    desk.request("x", Reload("nope"))  # type: ignore[arg-type]
    master.refusal = "reload refused: bad file"
    desk.request("y", Reload(None))  # type: ignore[arg-type]
    assert server.replies == [
        ("x", Reply.failure("no app named 'nope' (apps: api)")),
        ("y", Reply.failure("reload refused: bad file")),
    ]


class FakeNotifier:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.sent: list[str] = []

    def watchdog(self, now: float) -> None:
        self.sent.append("WATCHDOG")

    def ready(self, status: str) -> None:
        self.sent.append(f"READY {status}")

    def reloading(self) -> None:
        self.sent.append("RELOADING")

    def stopping(self) -> None:
        self.sent.append("STOPPING")

    def status(self, text: str) -> None:
        self.sent.append(f"STATUS {text}")

    def next_deadline(self) -> float | None:
        return None

    def close(self) -> None:
        self.sent.append("closed")


def test_systemd_hears_ready_once_then_reloading_and_ready_again_when_the_reload_settles() -> None:
    notifier = FakeNotifier()
    link = SystemdLink(notifier)  # type: ignore[arg-type]
    snapshot = Snapshot(1, "f", 0.0, 0.0)
    settled = {"now": False}

    def turn(now: float, *, ready: bool) -> None:
        link.turn(now, stopping=False, all_ready=ready, settled=lambda _: settled["now"], snapshot=lambda: snapshot)

    turn(0.0, ready=False)
    turn(0.1, ready=True)
    turn(0.2, ready=True)
    link.reloading(Waiting.begin({}, {}, now=0.2, startup_timeout=1.0))
    turn(0.3, ready=True)
    settled["now"] = True
    turn(0.4, ready=True)
    line = summary(snapshot)
    assert line == "0 apps, 0/0 workers ready, 0 req/s"
    assert [message for message in notifier.sent if message != "WATCHDOG"] == [
        f"STATUS {line}",
        f"READY {line}",
        "RELOADING",
        f"READY {line}",
    ]


def test_without_systemd_nothing_is_sent() -> None:
    notifier = FakeNotifier(enabled=False)
    link = SystemdLink(notifier)  # type: ignore[arg-type]
    link.reloading(Waiting.begin({}, {}, now=0.0, startup_timeout=1.0))
    link.turn(0.0, stopping=False, all_ready=True, settled=lambda _: True, snapshot=lambda: Snapshot(1, "f", 0.0, 0.0))
    assert notifier.sent == []
