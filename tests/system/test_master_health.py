"""Workers that die or hang under `serve up` are replaced; the rest of the master's workers never notice."""

from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from master_support import LINE_START, app_table, free_port, get, pids_answering, serve_up, server_table

pytestmark = pytest.mark.system


def test_killed_worker_is_replaced_and_nothing_else_is_touched(tmp_path: Path) -> None:
    api_port, chat_port = free_port(), free_port()
    config = (
        server_table()
        + app_table("api", bind=[f"127.0.0.1:{api_port}"], workers=2)
        + app_table("chat", bind=[f"127.0.0.1:{chat_port}"], workers=1)
    )
    with serve_up(tmp_path, config, {"api": 2, "chat": 1}) as master:
        api_pids, [chat_pid] = master.worker_pids("api"), master.worker_pids("chat")
        victim, survivor = sorted(api_pids)
        mark = master.mark()
        os.kill(victim, signal.SIGKILL)
        master.wait_for_line(rf"api\[{victim}\] was killed by SIGKILL", start=mark)
        replacement = master.worker_started("api", start=mark)
        assert pids_answering(("127.0.0.1", api_port), 2) == {survivor, replacement}
        assert get(("127.0.0.1", chat_port))[0] == chat_pid
        assert master.worker_pids("api", start=mark) == {replacement}
        assert master.worker_pids("chat", start=mark) == set()
        assert master.stop() == 0, master.output


def test_worker_stuck_in_a_blocking_call_is_killed_with_its_stack_dumped_and_replaced(tmp_path: Path) -> None:
    port = free_port()
    config = server_table(healthcheck_timeout=2) + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2)
    with serve_up(tmp_path, config, {"api": 2}) as master, ThreadPoolExecutor(1) as pool:
        pids = master.worker_pids("api")
        mark = master.mark()
        stuck = pool.submit(get, ("127.0.0.1", port), "/block?seconds=30")
        hung = int(master.wait_for_line(r"\bapi\[(\d+)\] master_apps: block started", start=mark).group(1))
        master.wait_for_line(rf"api\[{hung}\] event loop silent .*healthcheck_timeout 2 s\): SIGABRT", start=mark)
        # faulthandler's dump, through the worker's pipe, with its prefix: the frame that blocks.
        master.wait_for_line(rf"\bapi\[{hung}\] (Current thread|Thread) 0x", start=mark)
        master.wait_for_line(rf'\bapi\[{hung}\]   File ".*master_apps\.py", line \d+ in app', start=mark)
        replacement = master.worker_started("api", start=mark)
        with pytest.raises(AssertionError, match="connection closed before a complete response"):
            stuck.result(timeout=10)
        (other,) = pids - {hung}
        assert pids_answering(("127.0.0.1", port), 2) == {other, replacement}
        master_lines = [line for line in master.lines[mark:] if not re.match(LINE_START + r"\w+\[\d+\] ", line)]
        assert not [line for line in master_lines if str(other) in line]
        assert master.stop() == 0, master.output
