from __future__ import annotations

import importlib
import importlib.metadata
import re
import runpy
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from supervisor.cli import main, serve
from supervisor.config.loader import load_text
from supervisor.config.options import Config
from supervisor.errors import EXIT_STARTUP, StartupError

VERSION_LINE = re.compile(
    r"^serve \d+\.\d+\.\d+\S* \(\w+ \d+\.\d+\.\d+\S*, uvloop \S+( \S+)?, httptools \S+( \S+)?\) on \w+\n$"
)

# Variables the commands read or load_dotenv writes: CliRunner puts them back after each run.
CLEAN_ENV: dict[str, str | None] = {"WEB_CONCURRENCY": None, "FORWARDED_ALLOW_IPS": None, "SERVE_WORKERS": None}


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(serve, list(args), env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False)


class FakeApi:
    """Stands in for supervisor.api so `serve run` can be checked without starting a server."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, outcome: int | Exception = 0) -> None:
        self.configs: list[Config] = []
        self.outcome = outcome
        module = types.ModuleType("supervisor.api")
        module.run_config = self.run_config  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "supervisor.api", module)

    def run_config(self, config: Config) -> int:
        self.configs.append(config)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert VERSION_LINE.match(result.output), result.output
    assert invoke("run", "--version").output == result.output


def test_check_prints_the_resolved_file(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('[defaults]\nworkers = 3\n[apps.api]\napp = "examples.api:app"\n', encoding="utf-8")
    result = invoke("check", "-c", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert load_text(result.stdout, str(path)).apps["api"].workers == 3


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('[apps.api]\napp = "examples.api:app"\nworkers = "four"\nwokers = 2\n', encoding="utf-8")
    result = invoke("check", "--config", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f'{path}:3: apps.api.workers: expected a positive integer, got "four"',
        f'{path}:4: apps.api.wokers: unknown key; did you mean "workers"?',
    ]


def test_check_reads_serve_toml_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("check")
    assert result.exit_code == 1
    assert result.stderr == "serve.toml: cannot read the file: No such file or directory\n"
    (tmp_path / "other.toml").write_text('[apps.a]\napp = "m:a"\n', encoding="utf-8")
    assert invoke("check", env={"SERVE_CONFIG": "other.toml"}).exit_code == 0


def test_run_builds_the_config_from_flags_and_returns_the_apps_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(monkeypatch, outcome=0)
    result = invoke("run", "main:app", "--port", "0", "--header", "X-A:1", "--no-server-header")
    assert result.exit_code == 0, result.output
    (config,) = api.configs
    assert (config.app, config.port, config.headers, config.server_header) == ("main:app", 0, (("X-A", "1"),), False)


def test_run_reports_a_startup_error_and_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeApi(monkeypatch, outcome=StartupError("api: cannot import main: No module named 'main'"))
    result = invoke("run", "main:app")
    assert result.exit_code == EXIT_STARTUP
    assert result.stderr == "api: cannot import main: No module named 'main'\n"


def test_run_passes_the_exit_code_through(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeApi(monkeypatch, outcome=3)
    assert invoke("run", "main:app").exit_code == 3


def test_run_reads_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(monkeypatch)
    result = invoke(
        "run",
        env={"SERVE_APP": "env:app", "SERVE_PORT": "8123", "SERVE_ACCESS_LOG": "false", "FORWARDED_ALLOW_IPS": "*"},
    )
    assert result.exit_code == 0, result.output
    (config,) = api.configs
    assert (config.app, config.port, config.access_log, config.forwarded_allow_ips) == ("env:app", 8123, False, ("*",))


def test_run_loads_the_env_file_before_building_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_text("FORWARDED_ALLOW_IPS=10.0.0.0/8\n", encoding="utf-8")
    result = invoke("run", "main:app", "--env-file", str(env_file))
    assert result.exit_code == 0, result.output
    (config,) = api.configs
    assert config.forwarded_allow_ips == ("10.0.0.0/8",)
    assert config.env_file == str(env_file)


def test_run_hands_several_workers_to_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(monkeypatch)
    assert invoke("run", "main:app", "--workers", "4").exit_code == 0
    assert invoke("run", "main:app", env={"SERVE_WORKERS": "2"}).exit_code == 0
    assert invoke("run", "main:app", env={"WEB_CONCURRENCY": "3"}).exit_code == 0
    assert [config.app_config.workers for config in api.configs] == [4, 2, 3]


def test_run_hands_reload_to_the_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = FakeApi(monkeypatch)
    assert invoke("run", "main:app", "--reload", "--reload-dir", str(tmp_path), "--workers", "2").exit_code == 0
    config = api.configs[0].app_config
    assert (config.reload, config.workers) == (True, 2)
    assert [Path(d).resolve() for d in config.reload_dirs] == [tmp_path.resolve()]


def test_run_reports_invalid_combinations_by_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeApi(monkeypatch)
    result = invoke("run", "main:app", "--ssl-keyfile", "key.pem")
    assert result.exit_code == 1
    assert result.stderr == (
        "serve run: --ssl-certfile: required when ssl_keyfile is set (the certificate to go with the key)\n"
    )


def test_bad_flags_are_usage_errors() -> None:
    result = invoke("run", "main:app", "--workers", "many")
    assert result.exit_code == 2
    assert "Invalid value for '--workers': expected a positive integer, got \"many\"" in result.stderr


def test_main_runs_the_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert VERSION_LINE.match(capsys.readouterr().out)


def test_python_dash_m_supervisor(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["supervisor", "--version"])
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("supervisor", run_name="__main__")
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("serve ")


def test_version_without_the_speedups(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name == "uvloop":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert ", uvloop not installed, httptools " in invoke("--version").output


def test_importing_the_main_module_runs_nothing() -> None:
    module = importlib.import_module("supervisor.__main__")
    assert module.main is main
