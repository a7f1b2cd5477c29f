"""Stop signals that arrive while the app is still starting (lifespan startup under way), or still shutting down."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support import APPS_DIR, ServeProcess

pytestmark = pytest.mark.system


def start(tmp_path: Path) -> tuple[ServeProcess, Path]:
    release = tmp_path / "release"
    process = ServeProcess(
        ["run", "slow_startup:app", "--app-dir", str(APPS_DIR), "--port", "0"], env={"RELEASE_FILE": str(release)}
    )
    process.wait_for_line("slow_startup: waiting")
    return process, release


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_during_startup_lets_it_finish_then_shuts_down_without_serving(tmp_path: Path, sig: int) -> None:
    process, release = start(tmp_path)
    process.send_signal(sig)
    release.touch()
    assert process.wait_exit() == 0
    process.wait_for_line("Stopped during startup: not serving.")
    process.wait_for_line("slow_startup: shutdown")
    assert "serve running on" not in process.output


def test_a_second_interrupt_abandons_a_startup_that_does_not_end(tmp_path: Path) -> None:
    process, _ = start(tmp_path)
    process.send_signal(signal.SIGINT)
    process.wait_for_line(r"Shutting down \(SIGINT\)")  # two signals sent at once would merge into one
    process.send_signal(signal.SIGINT)
    assert process.wait_exit() == 0
    process.wait_for_line("Startup abandoned: stopped at once.")
    assert "serve running on" not in process.output


def test_a_second_interrupt_abandons_a_lifespan_shutdown_that_does_not_end() -> None:
    process = ServeProcess(["run", "slow_startup:hanging_shutdown", "--app-dir", str(APPS_DIR), "--port", "0"])
    process.wait_for_line("serve running on")
    process.send_signal(signal.SIGINT)
    process.wait_for_line("slow_startup: shutdown hangs")
    process.send_signal(signal.SIGINT)
    assert process.wait_exit(10) == 0, process.output
    process.wait_for_line("Application shutdown abandoned: stopped at once.")
