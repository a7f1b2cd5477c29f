"""[server] metrics_bind: Prometheus text at /metrics, agreeing with `serve status`."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import ServeProcess, serve_status

pytestmark = pytest.mark.system


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_parse_and_agree_with_serve_status(tmp_path: Path) -> None:
    port = free_port()
    sock = tmp_path / "hello.sock"
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\nmetrics_bind = "127.0.0.1:{port}"\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{sock}"]\nworkers = 2\naccess_log = false\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"hello: 2 workers of generation 1 ready")
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
            for _ in range(12):
                assert client.get("http://hello/").status_code == 200
            assert client.get("http://hello/missing").status_code == 404
        # Workers flush their figures a few times a second: wait until both views count 13.
        deadline = time.monotonic() + 10
        while True:
            status = serve_status(config)
            app = status["apps"][0]
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            values = samples(scraped.text)
            total = values.get(("serve_app_requests_total", (("app", "hello"),)))
            if (app["requests_total"], total) == (13, 13) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert app["requests_total"] == 13
        assert app["status_classes"][1:5] == [12, 0, 1, 0]
        assert total == 13
        assert values[("serve_app_workers_ready", (("app", "hello"),))] == 2
        assert values[("serve_app_generation", (("app", "hello"),))] == 1
    finally:
        assert process.stop() == 0
