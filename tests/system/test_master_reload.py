"""A SIGHUP that cannot be carried out (invalid file, new code that does not import) changes nothing."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from master_support import app_table, free_port, get, pids_answering, serve_up, server_table

pytestmark = pytest.mark.system


def test_sighup_with_an_invalid_file_logs_each_problem_and_keeps_serving(tmp_path: Path) -> None:
    port, version_file = free_port(), tmp_path / "version"
    version_file.write_text("v1")
    config = server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2, version_file=version_file)
    with serve_up(tmp_path, config, {"api": 2}) as master:
        pids = master.worker_pids("api")
        broken = config.replace("workers = 2", 'workers = "four"') + "colour = 'blue'\n"
        lines = broken.splitlines()
        workers_line = lines.index('workers = "four"') + 1
        colour_line = lines.index("colour = 'blue'") + 1
        master.config.write_text(broken)
        version_file.write_text("v2")
        mark = master.mark()
        master.send_signal(signal.SIGHUP)
        path = re.escape(str(master.config))
        master.wait_for_line(rf"reload refused: {path}:{workers_line}: apps\.api\.workers: .*four", start=mark)
        master.wait_for_line(rf"reload refused: {path}:{colour_line}: apps\.api\.colour", start=mark)
        assert pids_answering(("127.0.0.1", port), 2) == pids
        assert {get(("127.0.0.1", port))[1] for _ in range(5)} == {"v1"}
        assert master.worker_pids("api", start=mark) == set()
        assert not [line for line in master.lines[mark:] if "generation 2" in line]
        assert master.stop() == 0, master.output


def test_sighup_with_code_that_no_longer_imports_keeps_the_old_generation_serving(tmp_path: Path) -> None:
    port, version_file = free_port(), tmp_path / "version"
    version_file.write_text("v1")
    config = server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2, version_file=version_file)
    with serve_up(tmp_path, config, {"api": 2}) as master:
        pids = master.worker_pids("api")
        version_file.write_text("fail-import")
        mark = master.mark()
        master.send_signal(signal.SIGHUP)
        master.wait_for_line(r"api: generation 2 abandoned: .*; generation 1 serves on", start=mark)
        master.wait_for_line(r"\bapi\[\d+\] .*import refused", start=mark)
        assert pids_answering(("127.0.0.1", port), 2) == pids
        assert {get(("127.0.0.1", port))[1] for _ in range(5)} == {"v1"}
        # Fixed code reloads as usual afterwards.
        version_file.write_text("v3")
        mark = master.mark()
        master.send_signal(signal.SIGHUP)
        master.wait_for_line(r"api: generation 3 serving; every older worker has exited", start=mark)
        assert {get(("127.0.0.1", port))[1] for _ in range(5)} == {"v3"}
        assert master.stop() == 0, master.output
