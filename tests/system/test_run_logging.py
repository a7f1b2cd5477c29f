"""What `serve run` writes: access lines, --log-level, --no-access-log and --log-config files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from support import APPS_DIR, ServeProcess, serve_run

pytestmark = pytest.mark.system

ACCESS_LINE = re.compile(r'^INFO: +127\.0\.0\.1:\d+ - "GET /page\?q=1 HTTP/1\.1" 200 OK (\d+\.\dms|\d+\.\d\ds)$')


def test_access_line_with_status_and_duration() -> None:
    with serve_run("system_apps:app") as server:
        assert httpx.get(f"{server.url}/page?q=1", timeout=10).status_code == 200
        server.wait_for_line(ACCESS_LINE, timeout=10)


def test_no_access_log_writes_no_access_lines() -> None:
    with serve_run("system_apps:app", "--no-access-log") as server:
        assert httpx.get(f"{server.url}/page?q=1", timeout=10).status_code == 200
        assert server.stop() == 0  # everything it would write is written by its exit
    assert "GET /page" not in server.output
    assert "Application shutdown complete." in server.output  # the other lines are still there


def test_log_level_warning_hides_info_lines_but_not_errors(uds_path: Path) -> None:
    # "serve running on" is an info line itself: readiness is the app's own startup line,
    # and the unix socket is listening (connections queue) from before the app is imported.
    process = ServeProcess(
        ["run", "system_apps:app", "--app-dir", str(APPS_DIR), "--uds", str(uds_path), "--log-level", "warning"]
    )
    try:
        process.wait_for_line("system_apps: lifespan startup")
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(uds_path)), timeout=10) as client:
            assert client.get("http://system-test/").status_code == 200
            assert client.get("http://system-test/empty").status_code == 500
        process.wait_for_line("ERROR: +ASGI callable returned without starting a response", timeout=10)
    finally:
        assert process.stop() == 0
    output = process.output
    assert "INFO:" not in output
    assert "system_apps: lifespan shutdown" in output


JSON_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "FROM-JSON %(levelname)s [%(name)s] %(message)s"}},
    "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {
        "serve": {"handlers": ["out"], "level": "INFO", "propagate": False},
        "serve.access": {"handlers": ["out"], "level": "INFO", "propagate": False},
    },
}

# A uvicorn log config ported over: loggers renamed, "()" pointing at serve's formatters.
YAML_CONFIG = """\
version: 1
disable_existing_loggers: false
formatters:
  default:
    "()": supervisor.logs.DefaultFormatter
    fmt: "FROM-YAML %(levelprefix)s %(message)s"
    use_colors: false
  access:
    "()": supervisor.logs.AccessFormatter
    fmt: 'FROM-YAML access %(client_addr)s "%(request_line)s" %(status_code)s in %(duration)s'
    use_colors: false
handlers:
  default: {class: logging.StreamHandler, formatter: default, stream: "ext://sys.stderr"}
  access: {class: logging.StreamHandler, formatter: access, stream: "ext://sys.stdout"}
loggers:
  serve: {handlers: [default], level: INFO, propagate: false}
  serve.access: {handlers: [access], level: INFO, propagate: false}
"""


@pytest.mark.parametrize(
    ("file_name", "text", "started", "access"),
    [
        (
            "logging.json",
            json.dumps(JSON_CONFIG),
            r"^FROM-JSON INFO \[serve\.error\] Started server process \[\d+\]$",
            r'^FROM-JSON INFO \[serve\.access\] 127\.0\.0\.1:\d+ - "GET /page\?q=1 HTTP/1\.1" 200$',
        ),
        (
            "logging.yaml",
            YAML_CONFIG,
            r"^FROM-YAML INFO: +Started server process \[\d+\]$",
            r'^FROM-YAML access 127\.0\.0\.1:\d+ "GET /page\?q=1 HTTP/1\.1" 200 OK in \d+\.\d+m?s$',
        ),
    ],
    ids=["json", "yaml"],
)
def test_log_config_file_replaces_the_format(
    tmp_path: Path, file_name: str, text: str, started: str, access: str
) -> None:
    config = tmp_path / file_name
    config.write_text(text)
    with serve_run("system_apps:app", "--log-config", str(config)) as server:
        assert httpx.get(f"{server.url}/page?q=1", timeout=10).status_code == 200
        server.wait_for_line(access, timeout=10)
        server.wait_for_line(started, timeout=1)
    assert not any(line.startswith("INFO:") for line in server.lines)
