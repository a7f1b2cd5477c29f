"""An app that starts processes of its own, for tests/system/test_worker_descendants.py.

Every route starts one helper that inherits the worker's stdout and stderr (what an app's
`subprocess` does by default) and answers `WORKER_PID HELPER_PID`:

- `/spawn`: `sleep 600`, in the worker's process group.
- `/stubborn`: a Python process that ignores SIGTERM, in the worker's group; the app answers
  once the helper has said so (on a pipe of its own), so no SIGTERM can come before.
- `/daemon`: `sleep 600` in a session of its own (start_new_session=True): not the worker's to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

STUBBORN = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "os.write(int(sys.argv[1]), b'armed')\n"
    "time.sleep(600)\n"
)
# Kept referenced so their Popen objects never warn about a running child.
HELPERS: list[subprocess.Popen[bytes]] = []


def _stubborn() -> subprocess.Popen[bytes]:
    ready, told = os.pipe()
    try:
        helper = subprocess.Popen([sys.executable, "-c", STUBBORN, str(told)], pass_fds=(told,))
    finally:
        os.close(told)
    with os.fdopen(ready, "rb") as pipe:
        pipe.read(5)  # b"armed": SIGTERM is ignored from now on (end of file if it died first)
    return helper


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The routes of the module docstring; lifespan accepted."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/stubborn":
        helper = _stubborn()
    else:
        helper = subprocess.Popen(["sleep", "600"], start_new_session=path == "/daemon")
    HELPERS.append(helper)
    body = f"{os.getpid()} {helper.pid}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
