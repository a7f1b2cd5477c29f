"""How serve's lines look: access_log_format, log_format = "json", timestamps, log_file prefixes,
and a --log-config written for uvicorn.

`serve up` masters serve tests/apps/master_apps.py (its /slow route prints a line, as an app's
print() would); `serve run` serves tests/apps/system_apps.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from master_support import (
    app_table,
    connect,
    free_port,
    get,
    ready_line,
    serve_up,
    server_table,
    start_master,
    write_config,
)
from support import read_response, serve_run

pytestmark = pytest.mark.system

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}"
JSON_FIELDS = {"ts", "level", "logger", "app", "worker", "pid", "message"}
ACCESS_FIELDS = {"method", "path", "status", "duration_ms", "client", "bytes"}


def test_an_access_log_format_with_a_header_and_a_duration(tmp_path: Path) -> None:
    port = free_port()
    access_format = '%(h)s "%(r)s" %(s)s %(b)s %({x-request-id}i)s %({content-type}o)s %(M)sms %(p)s'
    extra = f"access_log_format = '{access_format}'\n"
    text = server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1, extra=extra)
    with serve_up(tmp_path, text, {"api": 1}) as master:
        mark = master.mark()
        with connect(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"GET /slow?seconds=0.25 HTTP/1.1\r\nHost: t\r\nX-Request-Id: req-42\r\nConnection: close\r\n\r\n"
            )
            status, _, body = read_response(sock, 10)
        assert status == 200
        pid = body.split()[0].decode()
        line = master.wait_for_line(r"api\[\d+\] 127\.0\.0\.1 .*req-42.*", start=mark).group(0)
        pattern = (
            rf'api\[{pid}\] 127\.0\.0\.1 "GET /slow\?seconds=0\.25 HTTP/1\.1" 200 {len(body)} req-42 text/plain'
            rf" (\d+)ms <{pid}>$"
        )
        match = re.search(pattern, line)
        assert match is not None, line
        # libuv times the app's 0.25 s sleep from the loop's cached clock, which can lag the
        # monotonic clock our duration starts from by a few ms: the sleep may end at 249.x ms.
        assert 240 <= int(match.group(1)) < 5000


def test_every_line_of_a_json_run_is_a_json_object(tmp_path: Path) -> None:
    port = free_port()
    text = (
        server_table()
        + 'log_format = "json"\n'
        + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2, extra='log_format = "json"\n')
    )
    master = start_master(write_config(tmp_path, text))
    try:  # JSON lines have no "api[pid]" prefix to find each worker's start by: the master's own line says
        master.wait_for_line(ready_line("api", 2))
        mark = master.mark()
        pid, _ = get(("127.0.0.1", port), "/slow?seconds=0")
        master.wait_for_line(r'"logger": "serve.access"', start=mark)
        master.wait_for_line(r"master_apps: slow started", start=mark)
    finally:
        assert master.stop() == 0
    entries = [json.loads(line) for line in master.lines if line]  # every line, the master's own too
    assert entries
    for entry in entries:
        assert isinstance(entry, dict)
        assert set(entry) >= JSON_FIELDS, entry
    printed = next(entry for entry in entries if entry["message"] == "master_apps: slow started")
    assert (printed["app"], printed["pid"], printed["logger"]) == ("api", pid, "output")
    assert printed["worker"] in (0, 1)
    access: dict[str, Any] = next(entry for entry in entries if entry["logger"] == "serve.access")
    assert set(access) >= ACCESS_FIELDS
    assert (access["method"], access["path"], access["status"], access["pid"]) == ("GET", "/slow?seconds=0", 200, pid)
    assert access["client"].startswith("127.0.0.1:")
    assert access["worker"] in (0, 1)
    assert access["bytes"] > 0
    workers = {entry["worker"] for entry in entries if entry["app"] == "api"}
    assert workers == {0, 1}
    assert any(entry["app"] is None and entry["logger"].startswith("serve") for entry in entries)  # the master


def test_serve_up_lines_carry_the_time_and_log_file_lines_the_app_and_pid(tmp_path: Path) -> None:
    port = free_port()
    log_file = tmp_path / "api.log"
    text = server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1, extra=f"log_file = '{log_file}'\n")
    with serve_up(tmp_path, text, {"api": 1}) as master:
        pid, _ = get(("127.0.0.1", port), "/slow?seconds=0")
        master.wait_for_line(rf"^{STAMP} api\[{pid}\] master_apps: slow started$")
        master.wait_for_line(rf'^{STAMP} api\[{pid}\] INFO: +127\.0\.0\.1:\d+ - "GET /slow')
        assert master.stop() == 0
    assert all(re.match(STAMP + " ", line) for line in master.lines if line), master.output
    lines = log_file.read_text().splitlines()
    assert lines
    assert all(re.match(rf"{STAMP} api\[\d+\] ", line) for line in lines), lines
    assert f"api[{pid}] master_apps: slow started" in "\n".join(lines)


UVICORN_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "UVI %(levelprefix)s %(message)s"},
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": 'UVI-ACCESS %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def test_a_log_config_written_for_uvicorn_configures_serves_loggers(tmp_path: Path) -> None:
    config = tmp_path / "uvicorn-logging.json"
    config.write_text(json.dumps(UVICORN_CONFIG))
    with serve_run("system_apps:app", "--log-config", str(config)) as server:
        assert httpx.get(f"{server.url}/page?q=1", timeout=10).status_code == 200
        server.wait_for_line(r'^UVI-ACCESS 127\.0\.0\.1:\d+ - "GET /page\?q=1 HTTP/1\.1" 200 OK$', timeout=10)
    assert re.search(r"^UVI INFO: +serve running on ", server.output, re.MULTILINE)


def test_serve_run_writes_no_timestamps_and_takes_the_access_format_flag() -> None:
    with serve_run("system_apps:app", "--access-log-format", "%(m)s %(U)s %(s)s") as server:
        assert httpx.get(f"{server.url}/page?q=1", timeout=10).status_code == 200
        server.wait_for_line(r"^GET /page 200$", timeout=10)
    assert not any(re.match(STAMP, line) for line in server.lines)
