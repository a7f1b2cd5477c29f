"""`serve run` refusing to start: for each way startup fails, the exit status and the message a user reads."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
import trustme
from support import APPS_DIR, ServeProcess, serve_run

pytestmark = pytest.mark.system


def run_until_exit(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`serve run ARGS` to its end: (exit status, everything it printed)."""
    process = ServeProcess(["run", *args], env=env)
    return process.wait_exit(20), process.output


def assert_never_served(output: str) -> None:
    assert "serve running on" not in output
    assert "Traceback" not in output  # a startup failure is one clear line, not a stack dump


def test_missing_module_exits_3() -> None:
    code, output = run_until_exit("no_such_module_anywhere:app", "--app-dir", str(APPS_DIR), "--port", "0")
    assert code == 3
    assert 'could not import module "no_such_module_anywhere"' in output
    assert_never_served(output)


def test_missing_attribute_exits_3_and_suggests_the_close_name() -> None:
    code, output = run_until_exit("system_apps:ap", "--app-dir", str(APPS_DIR), "--port", "0")
    assert code == 3
    assert 'attribute "ap" not found in module "system_apps"; did you mean "app"?' in output
    assert_never_served(output)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("import a_dependency_that_is_not_installed\n", "ModuleNotFoundError"),
        ("from os import no_such_function\n", "ImportError"),
    ],
)
def test_import_error_inside_the_module_exits_3_naming_its_line(tmp_path: Path, source: str, error: str) -> None:
    (tmp_path / "broken_app.py").write_text("async def app(scope, receive, send): ...\n\n" + source)
    code, output = run_until_exit("broken_app:app", "--app-dir", str(tmp_path), "--port", "0")
    assert code == 3
    # Told apart from a missing module: the module exists and fails while importing, at this line.
    assert f'error while importing "broken_app": {error}:' in output
    assert "broken_app.py:3)" in output
    assert_never_served(output)


def test_failed_lifespan_startup_exits_3_with_the_apps_message() -> None:
    code, output = run_until_exit("system_apps:failing_startup", "--app-dir", str(APPS_DIR), "--port", "0")
    assert code == 3
    assert "lifespan startup failed: database unreachable at db:5432" in output
    assert_never_served(output)


def test_lifespan_on_with_an_app_raising_on_lifespan_exits_3() -> None:
    code, output = run_until_exit(
        "system_apps:no_lifespan", "--app-dir", str(APPS_DIR), "--port", "0", "--lifespan", "on"
    )
    assert code == 3
    assert "the app raised during lifespan startup: RuntimeError: unsupported scope type 'lifespan'" in output
    assert "serve running on" not in output


def test_lifespan_auto_serves_an_app_without_lifespan_support() -> None:
    with serve_run("system_apps:no_lifespan") as server:
        response = httpx.get(server.url + "/", timeout=10)
        assert response.status_code == 200
        assert response.text == "no lifespan here"
        assert server.stop() == 0
    assert "ASGI 'lifespan' protocol appears unsupported." in server.output


def test_address_already_in_use_exits_3_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run_until_exit("system_apps:app", "--app-dir", str(APPS_DIR), "--port", str(port))
    assert code == 3
    assert f"127.0.0.1:{port}: address already in use" in output
    assert "system_apps: lifespan startup" not in output  # bound before the app is even imported
    assert_never_served(output)


def test_invalid_option_value_is_a_usage_error() -> None:
    code, output = run_until_exit("system_apps:app", "--http", "bogus")
    assert code == 2
    assert "Invalid value for '--http'" in output
    assert "bogus" in output
    assert "Usage: serve run" in output


def test_unix_socket_in_use_by_a_live_server_exits_3(uds_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(uds_path))
        live.listen()
        code, output = run_until_exit("system_apps:app", "--app-dir", str(APPS_DIR), "--uds", str(uds_path))
        assert uds_path.is_socket()  # someone else's socket file: left alone
    assert code == 3
    assert f"unix:{uds_path}: address already in use" in output
    assert_never_served(output)


def test_key_not_matching_the_certificate_exits_3_before_the_app_starts(tmp_path: Path) -> None:
    authority = trustme.CA()
    served, other = authority.issue_cert("127.0.0.1"), authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    served.cert_chain_pems[0].write_to_path(str(certfile))
    other.private_key_pem.write_to_path(str(keyfile))
    code, output = run_until_exit(
        "system_apps:app",
        "--app-dir",
        str(APPS_DIR),
        "--port",
        "0",
        "--ssl-certfile",
        str(certfile),
        "--ssl-keyfile",
        str(keyfile),
    )
    assert code == 3
    assert f"ssl_keyfile: {keyfile}: the key does not match the certificate in {certfile}" in output
    assert "system_apps: lifespan startup" not in output
    assert_never_served(output)


def test_invalid_log_config_exits_1_naming_the_file_and_line(tmp_path: Path) -> None:
    log_config = tmp_path / "logging.json"
    log_config.write_text('{\n  "version": 1,\n  "handlers": {,}\n}\n')
    code, output = run_until_exit(
        "system_apps:app", "--app-dir", str(APPS_DIR), "--port", "0", "--log-config", str(log_config)
    )
    assert code == 1
    assert f"{log_config}:3: invalid JSON" in output
    assert_never_served(output)
