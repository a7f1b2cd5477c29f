"""A master that stops reading its workers' output (a slow hook, SIGSTOP) does not stall the apps.

Workers write their access lines to the master's pipe; once it was full, each worker blocked
in write() and every app stopped answering until the master read again.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from master_support import Load, app_table, free_port, get, serve_up, server_table

pytestmark = pytest.mark.system

PAUSE_S = 3.0


def test_workers_keep_answering_while_the_master_is_stopped(tmp_path: Path) -> None:
    port = free_port()
    address = ("127.0.0.1", port)
    config = server_table(healthcheck_timeout=30) + app_table("web", bind=[f"127.0.0.1:{port}"], workers=2)
    with serve_up(tmp_path, config, {"web": 2}) as master, Load(address, threads=4, per_connection=1000) as load:
        load.wait_for(lambda report: len(report.answers) >= 200)
        stopped_at = time.monotonic()
        os.kill(master.pid, signal.SIGSTOP)
        try:
            # Wait out the pause whatever happens: the master must not stay stopped.
            time.sleep(PAUSE_S)
        finally:
            os.kill(master.pid, signal.SIGCONT)
        report = load.stop()
        # After a second of pause the old workers had long blocked (64 KiB of lines take well under 0.5 s).
        late = [answer for answer in report.sent_after(stopped_at + 1.0) if answer.sent_at < stopped_at + PAUSE_S]
        assert len(late) >= 200, load.summary()
        assert not report.failures, load.summary()
        # Once the master reads again, lines reach its log again. A worker drops new lines until
        # what it held back has drained (the "N log lines dropped" line marks the gap), so one
        # request is sent every half second until its line shows: 20 at most.
        mark = master.mark()
        for attempt in range(20):
            get(address, f"/after-the-pause-{attempt}")  # raises unless answered 200
            try:
                master.wait_for_line(r"GET /after-the-pause-\d+ HTTP/1.1", timeout=0.5, start=mark)
                break
            except AssertionError:
                continue
        else:
            pytest.fail("no log line reached the master in 10 s after the pause:\n" + "\n".join(master.lines[-5:]))
