"""The dashboard's screenshots in docs/, made the same way every time.

For each size (80x24, then 200x60): `serve up` with tests/apps/dashboard_apps.py's app (`shop`) and the
demo hello app, in a detached tmux session of that size; client threads send mixed traffic (2xx, 4xx, 5xx,
warnings, an exception now and then) until the trend pane holds MIN_SAMPLES seconds and the log pane a
warning; `shop` is selected with Tab (at 200x60, `l` also narrows its log pane to warnings and errors);
`tmux capture-pane -e` is rendered to SVG with rich. The plain 80x24 capture goes between the screenshot
markers of docs/operations.md. Needs tmux. Usage: scripts/screenshots (run with the project's .venv by its launcher).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
OPERATIONS = ROOT / "docs" / "operations.md"
START, END = "<!-- screenshot:80x24:start -->", "<!-- screenshot:80x24:end -->"
TMUX = ["tmux", "-L", "serve-screenshots"]  # a tmux server of our own: no other session is touched
WAIT_S = 30.0  # for the apps to be running
TREND_WAIT_S = 120.0  # for the trend to fill; it gains a sample a second
MIN_SAMPLES = 45
SPARK = re.compile(r"[▁▂▃▄▅▆▇█]")
WARNING = re.compile(r"^shop\[\d+\] WARNING:", re.MULTILINE)
SGR = re.compile(r"\x1b\[[0-9;:]*m")  # what capture-pane -e writes: colours and attributes only


class Tmux:
    """A detached tmux session of a given size running one shell command."""

    def __init__(self, name: str, width: int, height: int, command: str) -> None:
        self.name = name
        # The tmux server hands its panes COLUMNS and LINES of its own: the dashboard must measure the pane.
        new = ["new-session", "-d", "-s", name, "-x", str(width), "-y", str(height)]
        subprocess.run([*TMUX, *new, f"unset COLUMNS LINES; {command}"], check=True, timeout=10)

    def screen(self, *, escapes: bool = False) -> str:
        capture = ["capture-pane", "-t", self.name, "-p", *(["-e"] if escapes else [])]
        return subprocess.run([*TMUX, *capture], capture_output=True, text=True, timeout=10, check=True).stdout

    def wait_for(self, ready: Callable[[str], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready(screen := self.screen()):
            if time.monotonic() > deadline:
                raise SystemExit(f"screenshots: {what} never showed; the screen:\n{screen}")
            time.sleep(0.25)

    def keys(self, *keys: str) -> None:
        subprocess.run([*TMUX, "send-keys", "-t", self.name, *keys], check=True, timeout=10)

    def kill(self) -> None:
        subprocess.run([*TMUX, "kill-session", "-t", self.name], capture_output=True, timeout=10, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path) -> tuple[Path, dict[str, int]]:
    ports = {"hello": free_port(), "shop": free_port()}
    config = directory / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\npid_file = "serve.pid"\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["127.0.0.1:{ports["hello"]}"]\nworkers = 2\n\n'
        f'[apps.shop]\napp = "dashboard_apps:app"\napp_dir = "{ROOT / "tests" / "apps"}"\n'
        f'bind = ["127.0.0.1:{ports["shop"]}"]\nworkers = 3\n'
    )
    return config, ports


def shop_path(n: int) -> str:
    """Mostly 200s, a fifth 404s, some 500s; a warning every 25 requests, an exception every 150."""
    if n % 150 == 0:
        return "/boom"
    if n % 25 == 0:
        return "/warn?tag=slow+upstream"
    return {0: "/missing", 1: "/fail", 5: "/missing"}.get(n % 10, "/")


def client(port: int, paths: Callable[[int], str], rate: Callable[[float], float], stop: threading.Event) -> None:
    """Requests at `rate(t)` per second; a new connection every 20 so that every worker gets some."""
    started, n = time.monotonic(), 0
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for _ in range(20):
                n += 1
                conn.request("GET", paths(n))
                conn.getresponse().read()
                stop.wait(1 / rate(time.monotonic() - started))
        except OSError:
            stop.wait(0.2)  # a worker going away mid-run: carry on with a new connection
        finally:
            conn.close()


@contextlib.contextmanager
def traffic(ports: dict[str, int]) -> Iterator[None]:
    """Two shop clients with a rate that swells and ebbs (so the sparklines have a shape), one steady hello."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(ports["shop"], shop_path, lambda t: 30 + 20 * math.sin(t / 6), stop)),
        threading.Thread(target=client, args=(ports["shop"], shop_path, lambda t: 12 + 8 * math.cos(t / 9), stop)),
        threading.Thread(target=client, args=(ports["hello"], lambda n: "/", lambda t: 15.0, stop)),
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def trend_samples(screen: str) -> int:
    """How many seconds the req/s sparkline holds (a second without requests would be a gap: none here)."""
    line = next((line for line in screen.splitlines() if line.startswith("req/s ")), "")
    return len(SPARK.findall(line))


def ready_to_shoot(screen: str) -> bool:
    """Enough of a trend, and a warning in the log pane (at 80x24 it shows only the last few lines)."""
    return trend_samples(screen) >= MIN_SAMPLES and bool(WARNING.search(screen))


def shoot(tmux: Tmux) -> tuple[str, str]:
    """The first frame that is ready to shoot, with colours and without (a redraw between the two: again)."""
    deadline = time.monotonic() + TREND_WAIT_S
    while True:
        ansi, plain = tmux.screen(escapes=True), tmux.screen()
        if unstyled(ansi) == unstyled(plain) and ready_to_shoot(plain):
            return ansi, plain
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: no {MIN_SAMPLES} trend samples and a warning; the screen:\n{plain}")
        time.sleep(0.1)


def unstyled(screen: str) -> list[str]:
    return [SGR.sub("", line).rstrip() for line in screen.rstrip("\n").split("\n")]


def stop_master(pid_file: Path) -> None:
    """SIGTERM to the master this script started (its pid file names it); it drains and removes the file."""
    if not pid_file.exists():
        return
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        deadline = time.monotonic() + WAIT_S
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def capture(width: int, height: int, *, levels: tuple[str, ...]) -> tuple[str, str]:
    """The dashboard at width x height under traffic: (with colours as escape sequences, plain)."""
    with tempfile.TemporaryDirectory(prefix="serve-screenshots-") as tmp:
        config, ports = write_config(Path(tmp))
        serve = f"{shlex.quote(sys.executable)} -m supervisor up -c {shlex.quote(str(config))}"
        tmux = Tmux(f"dashboard-{width}x{height}", width, height, f"cd {shlex.quote(str(ROOT))} && {serve}")
        try:
            running = re.compile(r"^. (hello|shop)\s+running", re.MULTILINE)
            tmux.wait_for(lambda s: len(running.findall(s)) == 2, "both apps running", WAIT_S)
            tmux.keys("Tab", *levels)  # hello, then shop: its trend and its log pane
            tmux.wait_for(lambda s: "▸ shop" in s, "shop selected", WAIT_S)
            with traffic(ports):
                return shoot(tmux)
        finally:
            tmux.kill()
            stop_master(Path(tmp) / "serve.pid")


def to_svg(ansi: str, width: int, title: str) -> str:
    """The captured screen as rich's SVG of a terminal window, cell for cell."""
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
    for line in ansi.rstrip("\n").split("\n"):
        console.print(Text.from_ansi(line), no_wrap=True, overflow="crop", crop=True)
    svg = console.export_svg(title=title)
    # rich names Fira Code only: where it is missing, DejaVu Sans Mono is near rich's 0.61 em cell.
    svg = svg.replace("font-family: Fira Code, monospace;", 'font-family: "Fira Code", "DejaVu Sans Mono", monospace;')
    # Cells are runs of no-break spaces, which librsvg (rsvg-convert) collapses as whitespace unless told not to.
    return svg.replace('<svg class="rich-terminal"', '<svg xml:space="preserve" class="rich-terminal"', 1)


def write_text_capture(plain: str) -> None:
    """The plain capture between the markers of docs/operations.md, as a code block."""
    text = OPERATIONS.read_text()
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not (start and end):
        raise SystemExit(f"screenshots: {OPERATIONS} lacks the markers {START} and {END}")
    block = "\n".join(line.rstrip() for line in plain.rstrip("\n").split("\n"))
    OPERATIONS.write_text(f"{before}{START}\n```\n{block}\n```\n{END}{after}")


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("screenshots: tmux is not installed (apt-get install tmux)")
    for width, height, levels in ((80, 24, ()), (200, 60, ("l",))):
        print(f"screenshots: {width}x{height} (about {MIN_SAMPLES + 10} s)...", flush=True)
        ansi, plain = capture(width, height, levels=levels)
        svg = IMAGES / f"dashboard-{width}x{height}.svg"
        svg.write_text(to_svg(ansi, width, f"serve up · {width}\N{MULTIPLICATION SIGN}{height}"))
        print(f"screenshots: wrote {svg.relative_to(ROOT)}")
        if (width, height) == (80, 24):
            write_text_capture(plain)
            print(f"screenshots: wrote the text capture in {OPERATIONS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
