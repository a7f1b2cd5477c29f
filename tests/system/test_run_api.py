"""The programmatic API, as uvicorn's users write it: `await Server(Config(app, port=0)).serve()` in their own loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest
from apps import system_apps

import supervisor
from supervisor.logs import SERVE_LOGGERS

pytestmark = pytest.mark.system

STARTUP_LIMIT_S = 10.0
POLL_S = 0.01


@pytest.fixture(autouse=True)
def restore_serve_loggers() -> Iterator[None]:
    """Server(Config(...)) configures serve's loggers in this process; leave them as found."""
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in SERVE_LOGGERS}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers = handlers
        logger.setLevel(level)


async def wait_started(server: supervisor.Server, task: asyncio.Task[None]) -> None:
    for _ in range(int(STARTUP_LIMIT_S / POLL_S)):
        if server.started:
            return
        if task.done():
            task.result()  # raises what stopped it
            pytest.fail("serve() returned before starting")
        await asyncio.sleep(POLL_S)
    pytest.fail(f"server not started within {STARTUP_LIMIT_S}s")


def test_server_serves_in_the_callers_loop_until_should_exit(capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> tuple[int, str, int, str]:
        server = supervisor.Server(supervisor.Config(system_apps.app, port=0, log_level="warning"))
        task = asyncio.create_task(server.serve())
        await wait_started(server, task)
        listener = server.servers[0]
        assert isinstance(listener, asyncio.Server)  # what loop.create_server returned
        host, port = listener.sockets[0].getsockname()[:2]
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            response = await client.get("/scope")
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        return response.status_code, response.json()["scheme"], port, host

    status, scheme, port, host = asyncio.run(scenario())
    assert (status, scheme, host) == (200, "http", "127.0.0.1")
    assert port > 0
    printed = capsys.readouterr().out
    assert "system_apps: lifespan startup" in printed
    assert "system_apps: lifespan shutdown" in printed
