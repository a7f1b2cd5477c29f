"""Ordinary traffic from an ordinary client (httpx) through a `Server` in the test process, both fronts."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from apps.protocol_apps import FIXED_BODY, piece
from inprocess import serve_inprocess

FRONTS = ("httptools", "h11")
PIECE = 65536


@pytest.fixture(scope="module", params=FRONTS)
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve_inprocess("protocol_apps:app", http=request.param, access_log=False) as server:
        yield server.url


def test_a_pooled_client_reuses_one_connection(base_url: str) -> None:
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_connections=1)) as client:
        ports = set()
        for index in range(20):
            response = client.post("/scope", content=b"request %d" % index)
            assert response.status_code == 200
            assert response.json()["body"] == f"request {index}"
            ports.add(response.json()["client"][1])
    assert len(ports) == 1


def test_concurrent_requests(base_url: str) -> None:
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=10)) as client:
            return await asyncio.gather(
                *(client.post("/echo", content=b"body %d" % i) for i in range(40)),
                *(client.get("/fixed") for _ in range(10)),
                *(client.get("/sleep", params={"s": "0.05"}) for _ in range(10)),
            )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 60
    assert [r.content for r in responses[:40]] == [b"body %d" % i for i in range(40)]
    assert {r.content for r in responses[40:50]} == {FIXED_BODY}
    assert {r.content for r in responses[50:]} == {b"slept"}


def test_streaming_download(base_url: str) -> None:
    size = 4 * 1024 * 1024 + 123
    digest = hashlib.sha256()
    received = 0
    with httpx.Client(base_url=base_url) as client, client.stream("GET", "/stream", params={"size": size}) as response:
        assert response.headers["content-length"] == str(size)
        for data in response.iter_bytes():
            digest.update(data)
            received += len(data)
    expected = hashlib.sha256()
    for index, offset in enumerate(range(0, size, PIECE)):
        expected.update(piece(index, min(PIECE, size - offset)))
    assert (received, digest.hexdigest()) == (size, expected.hexdigest())


def test_streaming_chunked_response(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        response = client.get("/chunks", params={"n": 50, "size": 1000})
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == b"".join(piece(i, 1000) for i in range(50))


def test_streaming_upload(base_url: str) -> None:
    parts = [piece(i, 100_000) for i in range(30)]

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base_url) as client:
            return await client.post("/upload", content=body())

    response = asyncio.run(main())
    whole = b"".join(parts)
    assert response.json() == {"length": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}


def test_head_and_errors_as_a_client_sees_them(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        head = client.head("/fixed")
        assert (head.status_code, head.headers["content-length"], head.content) == (200, str(len(FIXED_BODY)), b"")
        assert client.get("/raise-before-start").status_code == 500
        assert client.get("/no-such-route").status_code == 404
        assert client.get("/fixed").content == FIXED_BODY  # the pool recovers from the closed connection
