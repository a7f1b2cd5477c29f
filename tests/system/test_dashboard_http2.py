"""The dashboard's HTTP/2 columns on a real `serve up` in tmux: open connections and streams, and broken limits."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest
from h2.errors import ErrorCodes
from master_support import free_port
from support import APPS_DIR, ROOT
from test_dashboard import Tmux, row, stop_master
from test_http2_client import H2Client, frame

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)"),
]

PING = 6
# From REQ/S to H2LIM (REQ/S 2XX/S 4XX/S 5XX/S REQUESTS CONN WS H2 STRM H2LIM): CONN and the last three checked.
H2_CELLS = r"\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+{conns}\s+\S+\s+{h2}\s+{streams}\s+{limits}"


def api_row(*, conns: int, h2: int, streams: int, limits: int) -> str:
    """The selected app's row with these figures in CONN, H2, STRM and H2LIM."""
    cells = H2_CELLS.format(conns=conns, h2=h2, streams=streams, limits=limits)
    return row("api", "running", "1/1", "1", cells, selected=True)


def test_http2_connections_streams_and_broken_limits_show_in_their_columns(tmp_path: Path) -> None:
    port = free_port()
    release = tmp_path / "release"
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\npid_file = "serve.pid"\n\n'
        f'[apps.api]\napp = "system_apps:app"\napp_dir = "{APPS_DIR}"\nbind = ["127.0.0.1:{port}"]\nworkers = 1\n'
        "http2 = true\nh2_control_frame_budget = 50\n"
    )
    serve = f"{shlex.quote(sys.executable)} -m supervisor up -c {shlex.quote(str(config))}"
    tmux = Tmux(f"serve-h2-{tmp_path.name}", f"cd {shlex.quote(str(ROOT))} && {serve}; sleep 60", width=200)
    try:
        tmux.wait_for(r"^\s+APP\s+.*\sH2\s+STRM\s+H2LIM\s")  # an app offers HTTP/2: the columns are drawn
        tmux.wait_for(api_row(conns=0, h2=0, streams=0, limits=0))
        with H2Client.connect("127.0.0.1", port) as client:
            streams = [client.request("GET", f"/hold?until={release}") for _ in range(2)]
            tmux.wait_for(api_row(conns=1, h2=1, streams=2, limits=0))
            release.touch()
            assert [client.response(stream)[0] for stream in streams] == [200, 200]
        with H2Client.connect("127.0.0.1", port) as abusive:
            abusive.send_raw(frame(PING, payload=bytes(8)) * 200)
            assert abusive.goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM
            abusive.wait_closed()
        tmux.wait_for(api_row(conns=0, h2=0, streams=0, limits=1))
    finally:
        tmux.kill()
        stop_master(tmp_path / "serve.pid")
