"""`serve check` and `serve up` facing files and apps that cannot start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from master_support import (
    app_table,
    free_port,
    get,
    pids_answering,
    serve_check,
    serve_up,
    server_table,
    start_master,
    write_config,
)

pytestmark = pytest.mark.system


def test_serve_check_reports_every_mistake_with_its_line_and_exits_1(tmp_path: Path) -> None:
    port = free_port()
    text = (
        server_table()
        + "log_levle = 'info'\n"
        + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2).replace("workers = 2", 'workers = "four"')
        + app_table("chat", bind=[f"127.0.0.1:{port}"], workers=1)
        + "[apps.empty]\nworkers = 1\n"
    )
    config = write_config(tmp_path, text)
    lines = text.splitlines()
    result = serve_check(config)
    assert result.returncode == 1, result.stdout + result.stderr
    path = re.escape(str(config))
    level_line = lines.index("log_levle = 'info'") + 1
    workers_line = lines.index('workers = "four"') + 1
    chat_bind_line = [n for n, line in enumerate(lines, 1) if line.startswith("bind = ")][1]
    empty_line = lines.index("[apps.empty]") + 1
    expected = [
        rf"^{path}:{level_line}: server\.log_levle: ",
        rf'^{path}:{workers_line}: apps\.api\.workers: .*"four"',
        rf"^{path}:{chat_bind_line}: apps\.chat\.bind\[0\]: .*already bound by apps\.api",
        rf'^{path}:{empty_line}: apps\.empty: missing key "app"',
    ]
    for pattern in expected:
        assert re.search(pattern, result.stderr, re.MULTILINE), (pattern, result.stderr)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("target", "reason"),
    [("master_apps:app", "import refused"), ("master_apps:lifespan_fails", "master_apps: no database")],
    ids=["import", "lifespan"],
)
def test_up_exits_3_when_its_only_app_cannot_start(tmp_path: Path, target: str, reason: str) -> None:
    version_file = tmp_path / "version"
    version_file.write_text("fail-import" if reason == "import refused" else "v1")
    text = server_table() + app_table(
        "api", bind=[f"127.0.0.1:{free_port()}"], workers=2, target=target, version_file=version_file
    )
    master = start_master(write_config(tmp_path, text))
    assert master.wait_exit(20) == 3, master.output
    assert re.search(rf"\bapi\[\d+\] .*{reason}", master.output), master.output
    assert "No app could start" in master.output


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("exit_at_import:app", r"api\[\d+\] exited with code 1"),
        ("fault_apps:never_ready", r"not ready after 1 s \(startup_timeout\)"),
    ],
    ids=["os-exit-at-import", "startup-hangs"],
)
def test_up_exits_3_when_its_only_app_ends_or_hangs_before_it_was_ever_ready(
    tmp_path: Path, target: str, said: str
) -> None:
    """Not only exit code 3: any exit of the app's own, or a startup killed at startup_timeout, is a failed start."""
    server = server_table().replace("startup_timeout = 10", "startup_timeout = 1")
    text = server + app_table("api", bind=[f"127.0.0.1:{free_port()}"], workers=1, target=target)
    master = start_master(write_config(tmp_path, text))
    assert master.wait_exit(30) == 3, master.output
    assert re.search(said, master.output), master.output
    assert "No app could start" in master.output


def test_an_app_failing_at_import_is_retried_with_backoff_while_the_other_serves(tmp_path: Path) -> None:
    broken_version = tmp_path / "broken-version"
    broken_version.write_text("fail-import")
    port = free_port()
    text = (
        server_table()
        + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2)
        + app_table("broken", bind=[f"127.0.0.1:{free_port()}"], workers=1, version_file=broken_version)
    )
    with serve_up(tmp_path, text, {"api": 2}) as master:
        pids = master.worker_pids("api")
        for delay in ("0.5", "1", "2", "4"):
            master.wait_for_line(
                rf"broken\[\d+\] could not start: RuntimeError: master_apps: import refused, .*; next start in {delay} s"
            )
            assert get(("127.0.0.1", port))[0] in pids
        master.wait_for_line(r"broken\[\d+\] could not start: RuntimeError: .*; next start in \d+ s \(crash loop\)")
        assert pids_answering(("127.0.0.1", port), 2) == pids
        assert master.process.proc.poll() is None
        assert master.stop() == 0, master.output
