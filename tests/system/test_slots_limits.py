"""The worker-slot table holds every count the master accepts: `serve scale` and a reload refuse counts beyond it
with the number, and a new worker that finds every slot taken waits for one (no crash, no restart counted)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from master_support import (
    Master,
    app_table,
    connect,
    free_port,
    ready_line,
    serve_command as serve,
    serve_up,
    server_table,
    write_config,
)
from support import ROOT, ServeProcess, read_response, serve_status

pytestmark = pytest.mark.system

# A table of two slots, two per worker: one worker fits, and a reload of it; a second reload
# while the first generation still drains finds no free slot.
SMALL_TABLE = """
import sys
from supervisor.status import slots

slots.MIN_SLOTS = 2
slots.SLOTS_PER_WORKER = 2
slots.GROWTH = 1
from supervisor.cli import main
sys.argv = ["serve", *sys.argv[1:]]
main()
"""


def test_scale_and_reload_refuse_counts_the_table_cannot_hold_with_the_number(tmp_path: Path) -> None:
    port = free_port()
    with serve_up(tmp_path, server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1), {"api": 1}) as m:
        refused = serve("scale", "api", "129", config=m.config)
        assert refused.returncode == 1, refused
        assert "api: at most 128 workers fit this master's 512 worker slots" in refused.stderr, refused.stderr
        assert "set workers = 129 in the file and run `serve upgrade`" in refused.stderr
        m.config.write_text(server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=129))
        reloaded = serve("reload", config=m.config)
        assert reloaded.returncode == 1, reloaded
        assert "api: workers = 129 does not fit this master's 512 worker slots (at most 128" in reloaded.stderr
        (app,) = serve_status(m.config)["apps"]
        assert (app["workers_desired"], app["generation"], app["restarts"]) == (1, 1, 0)
        assert serve("scale", "api", "2", config=m.config).returncode == 0
        deadline = time.monotonic() + 20
        while serve_status(m.config)["apps"][0]["workers_ready"] != 2:
            assert time.monotonic() < deadline, serve_status(m.config)
            time.sleep(0.2)
        assert m.stop() == 0, m.output


@pytest.mark.timeout(60)
def test_a_worker_finding_no_free_slot_waits_for_one_and_nothing_crashes(tmp_path: Path) -> None:
    port = free_port()
    text = server_table(graceful_timeout=15) + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1)
    config = write_config(tmp_path, text)
    process = ServeProcess(
        [], command=[sys.executable, "-c", SMALL_TABLE, "up", "-c", str(config), "--no-tui"], cwd=ROOT
    )
    master = Master(process, config)
    try:
        master.wait_ready({"api": 1})
        with connect(("127.0.0.1", port)) as held:  # keeps generation 1's worker draining for a while
            held.sendall(b"GET /slow?seconds=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            master.wait_for_line(r"master_apps: slow started")
            mark = master.mark()
            master.send_signal(signal.SIGHUP)
            master.wait_for_line(ready_line("api", 1, generation=2), start=mark)
            master.send_signal(signal.SIGHUP)  # generation 3 needs a slot: both are taken
            master.wait_for_line(r"api: a new worker waits: all 2 worker status slots are in use", start=mark)
            assert read_response(held, timeout=15)[0] == 200
        master.wait_for_line(ready_line("api", 1, generation=3), start=mark)
        status = serve_status(config)
        (app,) = status["apps"]
        assert app["restarts"] == 0, app
        assert "crash" not in app["exits"], app
        assert not [e for e in status["events"] if e["kind"] in ("crash", "master_error")], status["events"]
        assert master.stop() == 0, master.output
    finally:
        if process.proc.poll() is None:
            process.stop()
