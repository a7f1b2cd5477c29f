"""Under steady load, `serve up` retires, reloads and rescales workers without failing or refusing a request.

Every request of the load counts: one that fails because its keep-alive connection was closed
under it is a failure (the server answers it with `Connection: close` instead), never retried.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from master_support import Load, LoadReport, Master, app_table, free_port, serve_up, server_table

pytestmark = pytest.mark.system

# Busy workers on a busy 2-core machine: a health kill would cut requests, and is not what these tests are about.
LOADED_HEALTHCHECK_S = 5


def assert_clean(load: Load, report: LoadReport, master: Master) -> None:
    """No request failed or was refused, and every worker that left did so by draining, not by force."""
    if report.failures or report.refused:
        pytest.fail(f"requests failed or refused: {load.summary()}")
    forced = [line for line in master.lines if re.search(r"SIGKILL|SIGABRT|was killed|exited with code", line)]
    assert forced == []


def test_max_requests_retirements_across_several_generations_lose_nothing(tmp_path: Path) -> None:
    port = free_port()
    config = server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=2, extra="max_requests = 50\nmax_requests_jitter = 10\n"
    )
    with serve_up(tmp_path, config, {"api": 2}) as master:
        first = master.worker_pids("api")
        with Load(("127.0.0.1", port), think_s=0.3) as load:
            load.wait_for(lambda report: len(set(report.pids()) - first) >= 10)
            report = load.stop()
        assert_clean(load, report, master)
        retired = [m for line in master.lines if (m := re.search(r"api\[(\d+)\] retiring after (\d+) requests", line))]
        assert len(retired) >= 8
        assert all(int(m.group(2)) >= 50 for m in retired)
        assert master.stop() == 0, master.output


def test_sighup_reload_switches_to_the_new_code_and_loses_nothing(tmp_path: Path) -> None:
    port, version_file = free_port(), tmp_path / "version"
    version_file.write_text("v1")
    config = server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=2, version_file=version_file
    )
    with serve_up(tmp_path, config, {"api": 2}) as master, Load(("127.0.0.1", port), think_s=0.3) as load:
        load.wait_for(lambda report: len(report.answers) >= 200)
        for generation, version in [(2, "v2-reloaded"), (3, "v3-reloaded-again")]:
            version_file.write_text(version)
            mark = master.mark()
            master.send_signal(signal.SIGHUP)
            master.wait_for_line(rf"api: generation {generation} serving; every older worker has exited", start=mark)
            switched = time.monotonic()
            master.wait_ready({"api": 2}, generation, start=mark)
            new_pids = master.worker_pids("api", start=mark)

            def served_since_switch(report: LoadReport, since: float = switched) -> bool:
                return len(report.sent_after(since)) >= 300

            load.wait_for(served_since_switch)
            after = load.report.sent_after(switched)
            assert {answer.text for answer in after} == {version}
            assert {answer.pid for answer in after} <= new_pids
        report = load.stop()
        assert_clean(load, report, master)
        assert report.answers[0].text == "v1"
        assert master.stop() == 0, master.output


def test_sigttin_then_sigttou_under_load_lose_nothing(tmp_path: Path) -> None:
    port, other_port = free_port(), free_port()
    config = (
        server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S)
        + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2)
        + app_table("other", bind=[f"127.0.0.1:{other_port}"], workers=1)
    )
    with serve_up(tmp_path, config, {"api": 2, "other": 1}) as master, Load(("127.0.0.1", port), think_s=0.3) as load:
        load.wait_for(lambda report: len(report.answers) >= 200)
        mark = master.mark()
        master.send_signal(signal.SIGTTIN)
        master.wait_for_line(r"api: 2 -> 3 workers", start=mark)
        master.wait_for_line(r"other: 1 -> 2 workers", start=mark)
        added = master.worker_started("api", start=mark)
        master.worker_started("other", start=mark)
        load.wait_for(lambda report: added in report.pids())
        mark = master.mark()
        master.send_signal(signal.SIGTTOU)
        master.wait_for_line(r"api: 3 -> 2 workers", start=mark)
        master.wait_for_line(r"other: 2 -> 1 worker\b", start=mark)
        retired = int(master.wait_for_line(r"api\[(\d+)\] retiring: scaled down to 2", start=mark).group(1))
        master.wait_for_line(rf"\bapi\[{retired}\] .*Finished server process", start=mark)
        master.wait_for_line(r"other\[\d+\] retiring: scaled down to 1", start=mark)
        count = len(load.report.answers)
        load.wait_for(lambda report: len(report.answers) >= count + 300)
        report = load.stop()
        assert_clean(load, report, master)
        assert retired == added  # the highest index goes first: the worker added last
        assert master.worker_pids("api", start=mark) == set()
        assert master.stop() == 0, master.output
