"""`serve run` options that shape what the app sees and what the client gets, end to end over loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support import serve_run

pytestmark = pytest.mark.system


def test_root_path_prefixes_the_scope_paths() -> None:
    with serve_run("system_apps:app", "--root-path", "/api") as server:
        scope = httpx.get(f"{server.url}/scope", timeout=10).json()
    # As uvicorn since 0.26: the proxy strips the prefix, the server puts it back on path and raw_path.
    assert (scope["root_path"], scope["path"], scope["raw_path"]) == ("/api", "/api/scope", "/api/scope")


def test_header_adds_headers_to_every_response() -> None:
    with serve_run("system_apps:app", "--header", "X-Served-By: system-test", "--header", "X-Region:eu-west") as server:
        responses = [httpx.get(f"{server.url}{path}", timeout=10) for path in ("/", "/scope")]
    for response in responses:
        assert response.headers["x-served-by"] == "system-test"
        assert response.headers["x-region"] == "eu-west"


@pytest.mark.parametrize(
    ("options", "sent"),
    [((), True), (("--no-server-header", "--no-date-header"), False)],
    ids=["default", "no-server-no-date"],
)
def test_server_and_date_headers(options: tuple[str, ...], sent: bool) -> None:
    with serve_run("system_apps:app", *options) as server:
        response = httpx.get(f"{server.url}/", timeout=10)
    assert response.status_code == 200
    assert ("server" in response.headers) is sent
    assert ("date" in response.headers) is sent
    if sent:
        assert response.headers["server"] == "serve"


def test_env_file_values_reach_the_app_without_overriding_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text('SYSTEM_TEST_GREETING="hello from the env file"\nSYSTEM_TEST_KEPT=from-the-file\n')
    with serve_run(
        "system_apps:app", "--env-file", str(env_file), env={"SYSTEM_TEST_KEPT": "from-the-environment"}
    ) as server:
        greeting = httpx.get(f"{server.url}/env", params={"name": "SYSTEM_TEST_GREETING"}, timeout=10).text
        kept = httpx.get(f"{server.url}/env", params={"name": "SYSTEM_TEST_KEPT"}, timeout=10).text
    assert greeting == "hello from the env file"
    assert kept == "from-the-environment"


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize(
    ("options", "client", "scheme"),
    [
        (("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"), "203.0.113.7", "https"),
        (("--proxy-headers",), "203.0.113.7", "https"),  # 127.0.0.1 is trusted by default
        (("--proxy-headers", "--forwarded-allow-ips", "192.0.2.1"), "127.0.0.1", "http"),
        (("--no-proxy-headers", "--forwarded-allow-ips", "127.0.0.1"), "127.0.0.1", "http"),
    ],
    ids=["trusted", "trusted-by-default", "other-ip-trusted", "proxy-headers-off"],
)
def test_proxy_headers_are_believed_only_from_trusted_peers(options: tuple[str, ...], client: str, scheme: str) -> None:
    with serve_run("system_apps:app", *options) as server:
        scope = httpx.get(f"{server.url}/scope", headers=FORWARDED, timeout=10).json()
    assert scope["client"][0] == client
    assert scope["scheme"] == scheme


def test_factory_serves_what_the_factory_returns() -> None:
    with serve_run("system_apps:create_app", "--factory") as server:
        response = httpx.get(f"{server.url}/", timeout=10)
    assert response.text == "made by the factory"
    assert "App factory detected" not in server.output  # asked for explicitly: no warning
    assert "system_apps: factory called" in server.output


def test_interface_wsgi_serves_a_wsgi_app() -> None:
    with serve_run("system_apps:wsgi_app", "--interface", "wsgi") as server:
        response = httpx.post(f"{server.url}/submit", content=b"three", timeout=10)
    assert (response.status_code, response.text) == (200, "wsgi POST /submit http 5")


def test_interface_asgi2_serves_an_asgi2_app() -> None:
    with serve_run("system_apps:Asgi2App", "--interface", "asgi2") as server:
        response = httpx.get(f"{server.url}/two", timeout=10)
    assert (response.status_code, response.text) == (200, "asgi2 /two")
