"""The live dashboard, driven like a person would: in tmux, with send-keys, read with capture-pane."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import APPS_DIR, ROOT

from supervisor import client
from supervisor.control import Status

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)"),
]

SCREEN_WAIT_S = 20.0


class Tmux:
    """One detached tmux session running a command in a terminal of 160x45 (or `width` columns)."""

    def __init__(self, name: str, command: str, width: int = 160) -> None:
        self.name = name
        # A tmux server started from pytest hands its panes COLUMNS=80 and LINES=24, which rich
        # would take over the pane's real size: the dashboard must measure the terminal itself.
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", "45", f"unset COLUMNS LINES; {command}"],
            check=True,
            timeout=10,
        )

    def screen(self, *, escapes: bool = False) -> str:
        """What the terminal shows; with `escapes`, with its colours as escape sequences."""
        result = subprocess.run(
            ["tmux", "capture-pane", "-t", self.name, "-p", *(["-e"] if escapes else [])],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return result.stdout

    def wait_for(self, pattern: str, timeout: float = SCREEN_WAIT_S) -> re.Match[str]:
        """Poll the screen (the dashboard redraws up to four times a second) until `pattern` shows."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            match = regex.search(screen)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never showed; the screen:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True, timeout=10)

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, timeout=10, check=False)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    sock = tmp_path / "hello.sock"
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\npid_file = "serve.pid"\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{sock}"]\nworkers = 2\n\n'
        f'[apps.stream]\napp = "supervisor.demo.stream:app"\nbind = ["unix:{tmp_path / "stream.sock"}"]\n'
        "workers = 1\n\n"
        f'[apps.shop]\napp = "dashboard_apps:app"\napp_dir = "{APPS_DIR}"\nbind = ["unix:{tmp_path / "shop.sock"}"]\n'
        "workers = 2\n"
    )
    serve = f"{shlex.quote(sys.executable)} -m supervisor up -c {shlex.quote(str(config))}"
    # The exit code is written to a file, and the pane kept open, so the test can read both.
    command = f"cd {shlex.quote(str(ROOT))} && {serve}; echo $? > {tmp_path / 'exit'}; sleep 60"
    session = Tmux(f"serve-test-{tmp_path.name}", command)
    try:
        yield session, tmp_path
    finally:
        session.kill()
        stop_master(tmp_path / "serve.pid")


def stop_master(pid_file: Path) -> None:
    """A master still running after its test (the session is gone) is stopped by its own pid."""
    if not pid_file.exists():
        return  # it exited and removed its pid file
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + SCREEN_WAIT_S
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


# The app's row at 160 columns: APP STATE READY GEN REQ/S 2XX/S 4XX/S 5XX/S REQUESTS ...
def row(app: str, *cells: str, selected: bool = False) -> str:
    return rf"^{'▸' if selected else ' '} {app}\s+" + r"\s+".join(cells) + r"\s"


def test_the_dashboard_shows_counts_and_obeys_its_keys(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    tmux.wait_for(row("stream", "running", "1/1", "1"))
    tmux.wait_for(row("shop", "running", "2/2", "1"))
    assert len(re.findall(r"^  [├└] \d+\s+ready", tmux.screen(), re.MULTILINE)) == 5

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "hello.sock"))) as client:
        for _ in range(17):
            assert client.get("http://hello/").status_code == 200
    tmux.wait_for(row("hello", "running", "2/2", "1", r"\S+", r"\S+", "0", "0", "17", selected=True))  # REQUESTS

    tmux.keys("+")
    tmux.wait_for(row("hello", "running", "3/3", "1", selected=True))

    tmux.keys("r")
    tmux.wait_for(r"^Reload all 3 apps\? Each starts a new generation; .*  y yes · any other key: no$")
    tmux.keys("y")
    tmux.wait_for(row("hello", "running", "3/3", "2", selected=True))  # generation 2, still three workers
    tmux.wait_for(row("stream", "running", "1/1", "2"))

    tmux.keys("q")
    tmux.wait_for(r"^Stop the master and every app \(each drains first\)\?  y yes · any other key: no$")
    tmux.keys("y")
    exit_file = tmp_path / "exit"
    deadline = time.monotonic() + SCREEN_WAIT_S
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"
    tmux.wait_for(r"serve\[\d+\] INFO:\s+Master \d+ stopped\.")  # the last lines stay on the terminal


def test_q_and_r_ask_first_and_any_other_key_leaves_everything_as_it_was(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    tmux.keys("q")
    tmux.wait_for(r"^Stop the master and every app")
    tmux.keys("n")
    tmux.wait_for(r"^cancelled$")
    tmux.keys("r")
    tmux.wait_for(r"^Reload all 3 apps\?")
    tmux.keys("Escape", "j")  # Escape alone is no key; j is "no"
    tmux.wait_for(r"^cancelled$")
    snapshot = client.request(str(tmp_path / "control.sock"), Status(), config_path="serve.toml", timeout=5).result
    assert isinstance(snapshot, dict)
    assert [app["generation"] for app in snapshot["apps"]] == [1, 1, 1]  # nothing reloaded, nothing stopped
    assert not (tmp_path / "exit").exists()


def test_question_mark_shows_every_key_and_any_key_closes_it(dashboard: tuple[Tmux, Path]) -> None:
    tmux, _ = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    tmux.keys("?")
    tmux.wait_for(r"^── keys · any key closes this ─")
    screen = tmux.screen()
    assert re.search(r"^  x\s+restart the selected worker \(its replacement starts first\)$", screen, re.MULTILINE)
    assert re.search(r"^  l\s+log level: all, warnings and errors, errors$", screen, re.MULTILINE)
    tmux.keys("+")  # closes the help, and does nothing else
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    assert "── keys" not in tmux.screen()


def test_server_errors_are_red_with_a_trend_and_the_log_pane_follows_filters_and_pauses(
    dashboard: tuple[Tmux, Path],
) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(row("shop", "running", "2/2", "1"))
    tmux.keys("Tab", "Tab")  # hello, stream, shop
    tmux.wait_for(row("shop", "running", "2/2", "1", selected=True))
    tmux.wait_for(r"^── logs · shop · all levels ─")
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "shop.sock"))) as shop:
        for i in range(60):
            path = "/fail" if i % 4 == 0 else "/missing" if i % 4 == 1 else "/"
            shop.get(f"http://shop{path}")
        assert shop.get("http://shop/boom").status_code == 500
        assert shop.get("http://shop/warn?tag=first").status_code == 200
    # 16 of the 61 answers were 500s over the last ten seconds: the 5XX/S column shows it, in red.
    tmux.wait_for(row("shop", "running", "2/2", "1", r"\S+", r"\S+", r"[0-9.]+", r"[1-9][0-9.]*", selected=True))
    coloured = tmux.screen(escapes=True)
    assert re.search(r"(\x1b\[[0-9;]*m)*\x1b\[[0-9;]*31[0-9;]*m(\x1b\[[0-9;]*m)*5xx [1-9][0-9.]*/s", coloured), coloured
    tmux.wait_for(r"^req/s .*[▁▂▃▄▅▆▇█].* peak [1-9]")  # the sparklines of the last minute
    tmux.wait_for(r"^p99   .*[▁▂▃▄▅▆▇█].*ms  peak ")
    tmux.wait_for(r"^shop\[\d+\] ERROR:\s+Exception in ASGI application$")
    assert re.search(r"\x1b\[[0-9;]*31[0-9;]*m(\x1b\[[0-9;]*m)*shop\[\d+\] ERROR:", tmux.screen(escapes=True))  # red
    assert "hello[" not in tmux.screen()  # the pane follows the selected app

    tmux.keys("l", "l")  # errors only: the traceback stays with its error line
    tmux.wait_for(r"^── logs · shop · errors ─")
    tmux.wait_for(r"^shop\[\d+\] dashboard_apps\.BoomError: the dashboard's test asked for it$")
    assert not re.search(r'"GET / HTTP/1\.1" 200', tmux.screen())
    assert "WARNING" not in tmux.screen()
    tmux.keys("l", "p")  # every level again (errors, then all), then paused
    tmux.wait_for(r"^── logs · shop · all levels · paused ─")
    tmux.wait_for(r"^shop\[\d+\] WARNING:\s+dashboard_apps: first$")
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "shop.sock"))) as shop:
        assert shop.get("http://shop/warn?tag=second").status_code == 200
    time.sleep(1.0)  # what is checked is that a line does NOT show: give it a second to (wrongly) appear
    assert "dashboard_apps: second" not in tmux.screen()
    tmux.keys("G")  # follow again
    tmux.wait_for(r"^shop\[\d+\] WARNING:\s+dashboard_apps: second$")
    tmux.wait_for(r"^── logs · shop · all levels ─")


def test_a_selected_worker_is_restarted_after_its_replacement_is_ready(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    first = int(tmux.wait_for(r"^  ├ (\d+)\s+ready").group(1))
    tmux.keys("x")
    tmux.wait_for(r"^x restarts a worker: select one first \(↓\)$")
    tmux.keys("Down")
    tmux.wait_for(rf"^── logs · hello\[{first}\] · all levels ─")  # the pane follows the worker
    tmux.keys("x")
    tmux.wait_for(rf"^Restart hello\[{first}\]\? Its replacement starts first\.  y yes")
    tmux.keys("y")
    tmux.wait_for(rf"hello\s+retire\s+hello\[{first}\] restarting: its replacement starts first")
    deadline = time.monotonic() + SCREEN_WAIT_S
    while re.search(rf"^  [├└] {first}\s", tmux.screen(), re.MULTILINE) and time.monotonic() < deadline:
        time.sleep(0.1)
    screen = tmux.screen()
    assert not re.search(rf"^  [├└] {first}\s", screen, re.MULTILINE), screen
    assert len(re.findall(r"^  [├└] \d+\s+ready", screen, re.MULTILINE)) == 5  # hello has its two again
    snapshot = client.request(str(tmp_path / "control.sock"), Status(), config_path="serve.toml", timeout=5).result
    assert isinstance(snapshot, dict)
    hello = snapshot["apps"][0]
    assert (hello["exits"], hello["restarts"], hello["workers_ready"]) == ({"restart": 1}, 0, 2)


def test_a_master_whose_dashboard_terminal_goes_away_stops(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    tmux.kill()  # the terminal hangs up under the master
    deadline = time.monotonic() + SCREEN_WAIT_S
    while (tmp_path / "serve.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (tmp_path / "serve.pid").exists()  # it stopped and cleaned up on its own


def test_serve_top_shows_the_running_master_with_its_panes(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    config = tmp_path / "serve.toml"
    top = Tmux(f"serve-top-{tmp_path.name}", f"{shlex.quote(sys.executable)} -m supervisor top -c {config}")
    try:
        top.wait_for(row("hello", "running", "2/2", "1", selected=True))
        top.wait_for(r"^── hello · the last minute, a sample a second ─")
        top.wait_for(r"^── logs · hello · all levels ─")  # the master's lines, over the control socket
        top.wait_for(r"^hello\[\d+\] INFO:\s+Application startup complete\.$")
        assert top.screen().splitlines()[-1].startswith("q quit  r reload  x restart")  # the screen is filled
        top.keys("Tab", "-")  # select stream, then one worker less: it stays at one
        top.keys("BTab", "+")  # select hello, one worker more
        top.wait_for(r"^hello: one worker more$")
        tmux.wait_for(row("hello", "running", "3/3", "1", selected=True))  # the master's own dashboard shows it
        top.keys("Down", "x", "y")
        top.wait_for(r"^restarting hello\[\d+\]: its replacement starts first$")
        top.keys("q")  # leaves top at once, asking nothing; the master keeps running
        top.wait_for(r"\A\s*\Z")
        tmux.wait_for(row("hello", "running", "3/3", "1", selected=True))
    finally:
        top.kill()


def test_a_terminal_paused_with_ctrl_s_does_not_stop_the_master(dashboard: tuple[Tmux, Path]) -> None:
    """XOFF stops the terminal from taking output; frames fill its buffer within seconds. The master
    drops frames instead of blocking: it goes on answering the control socket, and draws again on XON."""
    tmux, tmp_path = dashboard
    tmux.wait_for(row("hello", "running", "2/2", "1", selected=True))
    socket_path = str(tmp_path / "control.sock")
    tmux.keys("C-s")
    try:
        # Four frames a second of some 10 KB each: well past any pty buffer in this time.
        deadline = time.monotonic() + 6
        polls = 0
        while time.monotonic() < deadline:
            reply = client.request(socket_path, Status(), config_path="serve.toml", timeout=5)
            assert reply.ok, reply
            polls += 1
            time.sleep(0.25)
        assert polls >= 10
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "hello.sock"))) as http:
            assert http.get("http://hello/").status_code == 200
    finally:
        tmux.keys("C-q")
    tmux.keys("+")  # still steerable: the keys are read, and the dashboard shows the change
    tmux.wait_for(row("hello", "running", "3/3", "1", selected=True))


def test_a_chatty_app_does_not_empty_a_quiet_apps_log_pane(tmp_path: Path) -> None:
    """More lines from one app than the pane of every app keeps (500): the other's pane, in `serve up`
    and in `serve top`, still shows its own lines, as `serve logs` does."""
    config = tmp_path / "serve.toml"
    socks = {name: tmp_path / f"{name}.sock" for name in ("chatty", "quiet")}
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\npid_file = "serve.pid"\n\n'
        + "".join(
            f'[apps.{name}]\napp = "dashboard_apps:app"\napp_dir = "{APPS_DIR}"\nbind = ["unix:{sock}"]\nworkers = 1\n\n'
            for name, sock in socks.items()
        )
    )
    serve = f"{shlex.quote(sys.executable)} -m supervisor up -c {shlex.quote(str(config))}"
    tmux = Tmux(f"serve-test-{tmp_path.name}", f"cd {shlex.quote(str(ROOT))} && {serve}; sleep 60")
    top: Tmux | None = None
    try:
        tmux.wait_for(row("quiet", "running", "1/1", "1"))
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socks["quiet"]))) as http:
            assert http.get("http://quiet/warn?tag=quiet-mark").status_code == 200
        tmux.wait_for(r"^── logs · chatty · all levels ─")  # chatty, the first app, is selected
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socks["chatty"]))) as http:
            assert http.get("http://chatty/flood?n=1500").status_code == 200
        tmux.wait_for(r"^chatty\[\d+\] flood 1499$")
        tmux.keys("Tab")
        tmux.wait_for(r"^── logs · quiet · all levels ─")
        tmux.wait_for(r"^quiet\[\d+\] WARNING:\s+dashboard_apps: quiet-mark$")
        top = Tmux(f"serve-top-{tmp_path.name}", f"{shlex.quote(sys.executable)} -m supervisor top -c {config}")
        top.wait_for(r"^chatty\[\d+\] flood 1499$")
        top.keys("Tab")
        top.wait_for(r"^── logs · quiet · all levels ─")
        top.wait_for(r"^quiet\[\d+\] WARNING:\s+dashboard_apps: quiet-mark$")
        top.keys("a")  # every app's lines: the latest of all, the flood's, as before
        top.wait_for(r"^── logs · every app · all levels ─(.|\n)*^chatty\[\d+\] flood 1499$")
        assert "quiet-mark" not in top.screen()
    finally:
        if top is not None:
            top.kill()
        tmux.kill()
        stop_master(tmp_path / "serve.pid")
