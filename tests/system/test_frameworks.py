"""Every major ASGI framework served by `serve up`: a JSON route, a streamed body and a WebSocket echo over real sockets.

One small real app per framework lives in tests/frameworks/apps/. Each framework gets one
`serve up` (a module-scoped fixture), bound to a loopback port and a unix socket at once;
the three tests then talk to it with httpx and websockets. A framework is skipped only
when it is not installed, that is when the `test` extra could not install it on this Python.
"""

from __future__ import annotations

import importlib.metadata
import platform
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from master_support import free_port, serve_up
from websockets.sync.client import ClientConnection, connect, unix_connect

pytestmark = pytest.mark.system

FRAMEWORK_APPS = Path(__file__).resolve().parent.parent / "frameworks" / "apps"
TIMEOUT_S = 10.0
BASE_URL = "http://frameworks.test"
# The heavier frameworks take a couple of seconds to import on a loaded 2-core box; serve_up waits 20 s.
SERVER_TABLE = """\
[server]
healthcheck_timeout = 5
graceful_timeout = 3
startup_timeout = 20
"""


@dataclass(frozen=True)
class Framework:
    """A framework under test: the distributions it comes in, its app, and what its workers need."""

    name: str
    distributions: tuple[str, ...]  # what the `test` extra installs for it; missing means "not installable here"
    target: str
    env: tuple[tuple[str, str], ...] = ()
    extra: str = ""  # more keys of its [apps.NAME] table, as docs/frameworks.md shows them


FRAMEWORKS = [
    Framework("starlette", ("starlette",), "starlette_app:app"),
    Framework("fastapi", ("fastapi",), "fastapi_app:app"),
    Framework(
        "django",
        ("django", "channels"),
        "django_app:application",
        env=(("DJANGO_SETTINGS_MODULE", "django_settings"),),
        extra='lifespan = "off"\n',
    ),
    Framework("quart", ("quart",), "quart_app:app"),
    Framework("litestar", ("litestar",), "litestar_app:app"),
    Framework("falcon", ("falcon",), "falcon_app:app"),
    Framework("blacksheep", ("blacksheep",), "blacksheep_app:app"),
    Framework("muffin", ("muffin",), "muffin_app:app"),
]


@dataclass(frozen=True)
class Served:
    """A framework's app running under `serve up`, reachable on both of its binds."""

    framework: Framework
    port: int
    uds: Path

    def client(self, *, unix: bool = False) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.uds)) if unix else None
        base_url = BASE_URL if unix else f"http://127.0.0.1:{self.port}"
        return httpx.Client(base_url=base_url, transport=transport, timeout=TIMEOUT_S, trust_env=False)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def framework_config(framework: Framework, port: int, uds: Path) -> str:
    env = ", ".join(f"{key} = {quoted(value)}" for key, value in framework.env)
    return SERVER_TABLE + (
        f"[apps.{framework.name}]\n"
        f"app = {quoted(framework.target)}\n"
        f"app_dir = {quoted(str(FRAMEWORK_APPS))}\n"
        f'bind = ["127.0.0.1:{port}", {quoted("unix:" + str(uds))}]\n'
        "workers = 1\n"
        f"env = {{ {env} }}\n"
        f"{framework.extra}"
    )


def require_installed(framework: Framework) -> None:
    """Skip when pip could not install the framework here; an installed one that fails to import is a failure."""
    for distribution in framework.distributions:
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(
                f"{framework.name} could not be installed on Python {platform.python_version()}: "
                f"no {distribution} distribution in this environment"
            )


@pytest.fixture(scope="module", params=FRAMEWORKS, ids=lambda framework: framework.name)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    framework: Framework = request.param
    require_installed(framework)
    directory = tmp_path_factory.mktemp(framework.name)
    port = free_port()
    # AF_UNIX paths stop at 108 bytes and pytest's tmp paths can be longer.
    with tempfile.TemporaryDirectory(prefix="serve-") as short:
        uds = Path(short) / "app.sock"
        with serve_up(directory, framework_config(framework, port, uds), {framework.name: 1}) as master:
            yield Served(framework, port, uds)
            assert master.stop() == 0, master.output
    # Whatever the framework did wrong would only show in the log: an exception in a route, a send after close.
    problems = [line for line in master.lines if "Traceback" in line or "ERROR:" in line or "WARNING:" in line]
    assert problems == [], master.output


def test_json_route_answers_on_tcp_and_unix_socket(served: Served) -> None:
    for unix in (False, True):
        with served.client(unix=unix) as client:
            response = client.get("/hello")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"framework": served.framework.name, "path": "/hello"}


def test_streamed_body_arrives_chunk_by_chunk(served: Served, tmp_path: Path) -> None:
    """Each chunk is produced only after the client has read the one before (see stream_gate.py)."""
    received = []
    with served.client() as client, client.stream("GET", "/stream", params={"gate": str(tmp_path)}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        for line in response.iter_lines():
            received.append(line)
            (tmp_path / str(len(received))).touch()
    assert received == [f"chunk {index}" for index in range(4)]


def open_websocket(served: Served, *, unix: bool) -> ClientConnection:
    if unix:
        return unix_connect(str(served.uds), "ws://frameworks.test/ws", open_timeout=TIMEOUT_S, close_timeout=TIMEOUT_S)
    return connect(f"ws://127.0.0.1:{served.port}/ws", proxy=None, open_timeout=TIMEOUT_S, close_timeout=TIMEOUT_S)


def test_websocket_echo_on_tcp_and_unix_socket(served: Served) -> None:
    for unix in (False, True):
        with open_websocket(served, unix=unix) as websocket:
            for text in (f"hello {served.framework.name}, unix={unix}", "and again"):
                websocket.send(text)
                assert websocket.recv(timeout=TIMEOUT_S) == text
