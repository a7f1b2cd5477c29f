"""Upgrading serve itself: `serve upgrade` and SIGUSR2 hand every socket to a new master, which takes over.

The new master is a child of the old one at first, in a session of its own, and outlives it:
each test ends it by pid in `finally`, its workers with it.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from master_support import (
    Address,
    Load,
    Master,
    app_table,
    connect,
    free_port,
    get,
    serve_command as serve,
    serve_up,
    server_table,
)
from support import ServeProcess, read_response

pytestmark = pytest.mark.system

LOADED_HEALTHCHECK_S = 5
EXIT_WAIT_S = 20.0


def config_text(port: int, directory: Path, control: Path, version_file: Path) -> str:
    server = server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S).replace(
        "[server]\n", f'[server]\ncontrol_socket = "{control}"\npid_file = "{directory / "serve.pid"}"\n'
    )
    binds = [f"127.0.0.1:{port}", f"unix:{control.with_name('api.sock')}"]
    return server + app_table("api", bind=binds, workers=2, version_file=version_file)


def versioned(directory: Path) -> Path:
    """The file the app answers with; "v1" to start."""
    path = directory / "version"
    path.write_text("v1")
    return path


def slow_app(release: Path) -> str:
    """A second app whose lifespan startup waits while `release` is missing (created here: it starts at once)."""
    release.touch()
    return app_table(
        "slow",
        bind=[f"127.0.0.1:{free_port()}"],
        workers=1,
        target="slow_startup:app",
        env={"RELEASE_FILE": str(release)},
    )


def status(config: Path) -> dict[str, object]:
    result = serve("status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    snapshot: dict[str, object] = json.loads(result.stdout)
    return snapshot


def old_master_exits(master: Master) -> int:
    """The old master's exit code (its stderr pipe stays open: the new master writes to it too)."""
    return master.process.proc.wait(EXIT_WAIT_S)


@contextmanager
def new_masters(master: Master) -> Iterator[list[int]]:
    """Collects the pids of the new masters a test starts; ends each one still running, and its workers."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        started = {int(m.group(1)) for line in master.lines if (m := re.search(r"new master (\d+) started", line))}
        for pid in {*pids, *started}:
            with suppress(psutil.Error):
                process = psutil.Process(pid)
                children = process.children(recursive=True)
                process.terminate()
                try:
                    process.wait(EXIT_WAIT_S)
                except psutil.TimeoutExpired:
                    process.kill()
                for worker in children:
                    with suppress(psutil.Error):
                        worker.kill()
        if master.process.proc.poll() is not None:
            master.process.wait_exit(EXIT_WAIT_S)  # reads the rest of its output and closes the pipe


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_serve_upgrade_under_load_hands_everything_to_a_new_master(tmp_path: Path, uds_path: Path) -> None:
    port, version_file = free_port(), versioned(tmp_path)
    config = config_text(port, tmp_path, uds_path, version_file)
    with serve_up(tmp_path, config, {"api": 2}) as master, new_masters(master) as started:
        old_pid = master.pid
        with Load(("127.0.0.1", port), think_s=0.3) as load:
            load.wait_for(lambda report: len(report.answers) >= 100)
            version_file.write_text("v2")  # what the new master's workers import
            result = serve("upgrade", config=master.config)
            assert result.returncode == 0, result.stderr + master.output
            new_pid = int(re.search(r"new master (\d+)", result.stdout).group(1))  # type: ignore[union-attr]
            started.append(new_pid)
            assert old_master_exits(master) == 0, master.output
            switched = time.monotonic()
            load.wait_for(lambda report: len(report.sent_after(switched)) >= 100)
            report = load.stop()
        if report.failures or report.refused:
            pytest.fail(f"requests failed or refused: {load.summary()}\n{master.output}")
        assert {answer.text for answer in report.sent_after(switched)} == {"v2"}
        assert report.answers[0].text == "v1"
        assert gone(old_pid)
        assert psutil.Process(new_pid).is_running()
        assert (tmp_path / "serve.pid").read_text().strip() == str(new_pid)
        assert status(master.config)["master_pid"] == new_pid
        assert get(str(uds_path.with_name("api.sock")))[1] == "v2"

        new_master = psutil.Process(new_pid)
        new_master.terminate()
        new_master.wait(EXIT_WAIT_S)
        # The files are the new master's now: it removes them as the old one would have.
        assert not uds_path.with_name("api.sock").exists()
        assert not uds_path.exists()
        assert not (tmp_path / "serve.pid").exists()


def test_sigusr2_upgrades_and_a_second_upgrade_meanwhile_is_refused(tmp_path: Path, uds_path: Path) -> None:
    port, release = free_port(), tmp_path / "release"
    config = config_text(port, tmp_path, uds_path, versioned(tmp_path)) + slow_app(release)
    with serve_up(tmp_path, config, {"api": 2, "slow": 1}) as master, new_masters(master) as started:
        old_pid, mark = master.pid, master.mark()
        release.unlink()  # the new master's "slow" app waits in its lifespan startup until the test says
        master.send_signal(signal.SIGUSR2)
        new_pid = int(master.wait_for_line(r"new master (\d+) started", start=mark).group(1))
        started.append(new_pid)
        master.wait_for_line(r"slow\[\d+\] slow_startup: waiting", start=mark)

        refused = serve("upgrade", config=master.config)
        assert refused.returncode == 1, refused.stdout
        assert f"an upgrade is already in progress (new master {new_pid})" in refused.stderr, refused.stderr
        assert status(master.config)["master_pid"] == old_pid  # the old master still answers

        release.touch()
        master.wait_for_line(rf"Master {new_pid} took over from the old master", start=mark)
        assert old_master_exits(master) == 0, master.output
        assert gone(old_pid)
        assert status(master.config)["master_pid"] == new_pid
        assert get(("127.0.0.1", port))[1] == "v1"


def test_a_stop_during_an_upgrade_stops_the_new_master_too(tmp_path: Path, uds_path: Path) -> None:
    port, release = free_port(), tmp_path / "release"
    config = config_text(port, tmp_path, uds_path, versioned(tmp_path)) + slow_app(release)
    with serve_up(tmp_path, config, {"api": 2, "slow": 1}) as master, new_masters(master) as started:
        mark = master.mark()
        release.unlink()  # the new master stays starting until the test says
        master.send_signal(signal.SIGUSR2)
        new_pid = int(master.wait_for_line(r"new master (\d+) started", start=mark).group(1))
        started.append(new_pid)
        master.wait_for_line(r"slow\[\d+\] slow_startup: waiting", start=mark)
        assert "an upgrade is in progress" in serve("reload", config=master.config).stderr

        master.send_signal(signal.SIGTERM)
        master.wait_for_line(r"Upgrade failed.*this master was told to stop", start=mark)
        release.touch()  # a new master still starting would be ready now, and must not take over
        assert old_master_exits(master) == 0, master.output
        deadline = time.monotonic() + EXIT_WAIT_S
        while not gone(new_pid):
            assert time.monotonic() < deadline, f"the new master {new_pid} still runs"
            time.sleep(0.1)
        assert not any("took over from the old master" in line for line in master.lines), master.output


def test_a_new_master_that_fails_leaves_the_old_one_serving(tmp_path: Path, uds_path: Path) -> None:
    port, version_file = free_port(), versioned(tmp_path)
    config = config_text(port, tmp_path, uds_path, version_file)
    with serve_up(tmp_path, config, {"api": 2}) as master, new_masters(master):
        good = master.config.read_text()
        master.config.write_text(good.replace("workers = 2", 'workers = "two"'))
        result = serve("upgrade", config=master.config)
        assert result.returncode == 1, result.stdout + master.output
        assert "apps.api.workers" in result.stderr, result.stderr

        master.config.write_text(good)
        version_file.write_text("fail-import")  # the new master's workers cannot import the app
        result = serve("upgrade", config=master.config)
        assert result.returncode == 1, result.stdout + master.output
        assert "api:" in result.stderr, result.stderr
        assert "fail-import" in result.stderr, result.stderr

        started = [int(m.group(1)) for line in master.lines if (m := re.search(r"new master (\d+) started", line))]
        assert len(started) == 2
        deadline = time.monotonic() + EXIT_WAIT_S
        while not all(gone(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)  # a failed new master stops on its own; the old one reaps it
        assert all(gone(pid) for pid in started), master.output
        assert master.process.proc.poll() is None
        assert status(master.config)["master_pid"] == master.pid
        assert (tmp_path / "serve.pid").read_text().strip() == str(master.pid)
        assert get(("127.0.0.1", port))[1] == "v1"
        assert get(str(uds_path.with_name("api.sock")))[1] == "v1"  # a failed new master removed no file
        assert master.stop() == 0, master.output


def test_serve_logs_follow_reads_the_new_masters_lines_from_its_first(tmp_path: Path, uds_path: Path) -> None:
    """The new master numbers its lines from 1: the old master's cursor must not skip as many of them."""
    config = config_text(free_port(), tmp_path, uds_path, versioned(tmp_path))
    with serve_up(tmp_path, config, {"api": 2}) as master, new_masters(master) as started:
        follower = ServeProcess(["logs", "-c", str(master.config), "-n", "1", "-f"])
        try:
            follower.wait_for_line(r"^(api|serve)\[\d+\] ", timeout=10)  # its first answer is in
            result = serve("upgrade", config=master.config)
            assert result.returncode == 0, result.stderr + master.output
            started.append(int(re.search(r"new master (\d+)", result.stdout).group(1)))  # type: ignore[union-attr]
            notice = r"^serve logs: another master answers now"
            since = follower.lines.index(follower.wait_for_line(notice, timeout=10).string)
            kept = serve("logs", "-n", "1000", config=master.config).stdout.splitlines()
            assert len(kept) > 3, kept
            follower.wait_for_line(f"^{re.escape(kept[-1])}$", timeout=10, start=since)
            assert follower.lines[since + 1 : since + 1 + len(kept)] == kept
        finally:
            follower.proc.terminate()
            follower.wait_exit(timeout=10)


def notify_messages(sock: socket.socket, until: str, timeout: float = EXIT_WAIT_S) -> list[dict[str, str]]:
    """Datagrams sent to the stand-in NOTIFY_SOCKET, up to and including the first carrying `until`."""
    messages: list[dict[str, str]] = []
    deadline = time.monotonic() + timeout
    while not messages or until not in messages[-1]:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"no {until} within {timeout}s: {messages}") from None
        messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
    return messages


def test_under_systemd_the_old_master_announces_the_new_mainpid(tmp_path: Path, uds_path: Path) -> None:
    port, version_file = free_port(), versioned(tmp_path)
    config = config_text(port, tmp_path, uds_path, version_file)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(uds_path.with_name("notify.sock")))
        env = {"NOTIFY_SOCKET": str(uds_path.with_name("notify.sock")), "WATCHDOG_USEC": "1000000"}
        with serve_up(tmp_path, config, {"api": 2}, env=env) as master, new_masters(master) as started:
            notify_messages(notify, "READY")
            result = serve("upgrade", config=master.config)
            assert result.returncode == 0, result.stderr + master.output
            new_pid = int(re.search(r"new master (\d+)", result.stdout).group(1))  # type: ignore[union-attr]
            started.append(new_pid)
            messages = notify_messages(notify, "MAINPID")
            assert messages[-1]["MAINPID"] == str(new_pid)
            assert not any("STOPPING" in message for message in messages)
            assert old_master_exits(master) == 0, master.output
            later = notify_messages(notify, "WATCHDOG")  # the new master pets systemd's watchdog now
            assert not any("STOPPING" in message for message in later)


@dataclass(frozen=True)
class Probe:
    """One probe request: when it was sent, the status (0: no answer), and the body or what went wrong."""

    sent_at: float
    path: str
    status: int
    text: str


class Prober:
    """A scraper and an orchestrator's probe: /metrics and /readyz in turn, each on a new connection, until stopped."""

    def __init__(self, targets: list[tuple[Address, str]], *, max_seconds: float = 40.0) -> None:
        self.targets = targets
        self.probes: list[Probe] = []
        self.stopped = threading.Event()
        self.end = time.monotonic() + max_seconds
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set() and time.monotonic() < self.end:
            for address, path in self.targets:
                sent_at = time.monotonic()
                try:
                    with connect(address, timeout=5) as sock:
                        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
                        status, _, body = read_response(sock, timeout=5)
                    self.probes.append(Probe(sent_at, path, status, body.decode(errors="replace")))
                except (OSError, AssertionError) as error:  # refused, reset, cut short, timed out
                    self.probes.append(Probe(sent_at, path, 0, repr(error)))
            self.stopped.wait(0.01)  # pacing, not readiness: a probe every few milliseconds

    def wait_for(self, count: int, after: float = 0.0, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(probe.sent_at > after for probe in self.probes) < count:
            assert time.monotonic() < deadline, f"fewer than {count} probes within {timeout}s"
            time.sleep(0.02)

    def stop(self) -> list[Probe]:
        self.stopped.set()
        self.thread.join(10)
        return list(self.probes)


def master_pid_in(metrics: str) -> int:
    found = re.search(r'^serve_master_info\{.*\bpid="(\d+)"', metrics, re.MULTILINE)
    assert found is not None, metrics[:500]
    return int(found.group(1))


def test_upgrade_hands_the_metrics_and_health_endpoints_over_without_a_failed_probe(
    tmp_path: Path, uds_path: Path
) -> None:
    port, metrics_port, dropped_port = free_port(), free_port(), free_port()
    release, health = tmp_path / "release", uds_path.with_name("health.sock")
    endpoints = f'metrics_bind = "127.0.0.1:{metrics_port}"\nhealth_bind = "unix:{health}"\n'
    config = config_text(port, tmp_path, uds_path, versioned(tmp_path))
    config = config.replace("[server]\n", "[server]\n" + endpoints)
    config = config.replace(f'"127.0.0.1:{port}"', f'"127.0.0.1:{port}", "127.0.0.1:{dropped_port}"')
    config += slow_app(release)
    with serve_up(tmp_path, config, {"api": 2, "slow": 1}) as master, new_masters(master) as started:
        old_pid, mark = master.pid, master.mark()
        assert get(("127.0.0.1", dropped_port))[1] == "v1"
        prober = Prober([(("127.0.0.1", metrics_port), "/metrics"), (str(health), "/readyz")])
        try:
            prober.wait_for(20)
            # The new file no longer binds one of the app's addresses: the new master closes it.
            master.config.write_text(master.config.read_text().replace(f', "127.0.0.1:{dropped_port}"', ""))
            release.unlink()  # the new master's "slow" app waits in its lifespan startup until the test says
            master.send_signal(signal.SIGUSR2)
            new_pid = int(master.wait_for_line(r"new master (\d+) started", start=mark).group(1))
            started.append(new_pid)
            master.wait_for_line(r"slow\[\d+\] slow_startup: waiting", start=mark)
            waiting = time.monotonic()
            prober.wait_for(20, after=waiting)  # the new master runs, not ready: the old one answers every probe
            released = time.monotonic()  # before it, the new master cannot have taken over
            release.touch()
            master.wait_for_line(rf"Master {new_pid} took over from the old master", start=mark)
            assert old_master_exits(master) == 0, master.output
            switched = time.monotonic()
            prober.wait_for(20, after=switched)
        finally:
            probes = prober.stop()
        failed = [probe for probe in probes if probe.status != 200]
        assert not failed, f"{len(failed)} of {len(probes)} probes failed: {failed[:5]}\n{master.output}"
        scrapes = [(probe.sent_at, master_pid_in(probe.text)) for probe in probes if probe.path == "/metrics"]
        assert {pid for sent_at, pid in scrapes if sent_at < released} == {old_pid}
        assert {pid for sent_at, pid in scrapes if sent_at > switched} == {new_pid}
        assert gone(old_pid)
        master.wait_for_line(rf"Closed 127\.0\.0\.1:{dropped_port}, handed over by the old master", start=mark)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", dropped_port), timeout=5).close()

        new_master = psutil.Process(new_pid)
        new_master.terminate()
        new_master.wait(EXIT_WAIT_S)
        assert not health.exists()  # the endpoint's file was the new master's to remove
