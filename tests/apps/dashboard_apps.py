"""An app for the dashboard's system tests (tests/system/test_dashboard.py): every status class on demand.

`app` answers:

- `/missing`: 404.
- `/fail`: 500, answered by the app itself (no exception, no log line but the access log's).
- `/boom`: raises; the server logs the exception (an ERROR line and its traceback) and answers 500.
- `/warn?tag=T`: prints "WARNING:  dashboard_apps: T" on stderr, as a logger would, and answers 200.
- `/flood?n=N`: prints "flood 0" ... "flood N-1" on stdout (a chatty app), and answers 200.
- anything else: 200.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Message = dict[str, Any]


class BoomError(RuntimeError):
    """What /boom raises: the traceback the dashboard's log pane shows in red."""


async def app(
    scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/boom":
        raise BoomError("the dashboard's test asked for it")
    if path == "/warn":
        tag = parse_qs(scope["query_string"].decode()).get("tag", ["-"])[0]
        print(f"WARNING:  dashboard_apps: {tag}", file=sys.stderr, flush=True)
    if path == "/flood":
        count = int(parse_qs(scope["query_string"].decode()).get("n", ["0"])[0])
        print("\n".join(f"flood {n}" for n in range(count)), flush=True)
    status = {"/missing": 404, "/fail": 500}.get(path, 200)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"{status}\n".encode()})
