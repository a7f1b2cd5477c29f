"""The hello app written with FastAPI: the `fastapi` scenario of scripts/bench.

May import: fastapi (both contestants load this file with --app-dir scripts).

The same 13 bytes as bench_apps.hello, through a real framework's routing, request and
response objects and middleware stack: how much of the server's gain remains once a
framework's own cost per request sits on top of it.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

HELLO_TEXT = "Hello, world!"

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/", response_class=PlainTextResponse)
async def hello() -> str:
    return HELLO_TEXT
