"""Ctrl-C under gunicorn (`-k supervisor.workers.Worker`): SIGINT to the whole process group.

The worker drains as on TERM, so a request in flight is answered and the app's lifespan
shutdown runs, as with uvicorn's worker; the QUIT gunicorn's arbiter sends its workers a moment
later (its quick shutdown) does not cut that drain short.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from apps.system_apps import HOLD_BODY_BYTES
from support import APPS_DIR, ServeProcess, hold_request, read_until_closed, split_responses

pytestmark = pytest.mark.system
gunicorn = pytest.importorskip("gunicorn", reason="gunicorn is in the test extra")

# gunicorn in a session of its own, so that the test can signal its whole process group as a terminal does.
IN_OWN_GROUP = (
    "import os, sys; os.setsid(); os.execv(sys.executable, [sys.executable, '-m', 'gunicorn', *sys.argv[1:]])"
)


@pytest.mark.parametrize("worker", ["supervisor.workers.Worker", "supervisor.workers.H11Worker"])
def test_ctrl_c_drains_and_runs_lifespan_shutdown(tmp_path: Path, worker: str) -> None:
    sock_path, release = tmp_path / "g.sock", tmp_path / "release"
    command = [sys.executable, "-c", IN_OWN_GROUP, "system_apps:app", "-k", worker, "--pythonpath", str(APPS_DIR)]
    process = ServeProcess.from_command([*command, "--bind", f"unix:{sock_path}", "--graceful-timeout", "15"])
    try:
        process.wait_for_line(r"system_apps: lifespan startup")
        process.wait_for_line(r"serve running on unix:")
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(sock_path))
            client.sendall(hold_request(release, close=True))
            process.wait_for_line(r"system_apps: hold started")
            os.killpg(process.proc.pid, signal.SIGINT)
            process.wait_for_line(r"Shutting down \(SIGINT\)")
            process.wait_for_line(r"QUIT after Ctrl-C: still draining")
            release.touch()
            answer = read_until_closed(client)
        [(status, _, body)] = split_responses(answer)
        assert (status, len(body)) == (200, HOLD_BODY_BYTES)  # the whole body: not cut by the QUIT
        process.wait_for_line(r"system_apps: lifespan shutdown")
        assert process.wait_exit(20) == 0
        assert "hold cancelled" not in process.output
    finally:
        if process.proc.poll() is None:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.wait_exit(10)
