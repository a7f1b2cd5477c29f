"""A uvicorn --log-config works unchanged: its levels stand unless a level is given, and serve's lines stay on."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor import logs
from supervisor.config.loader import load_text
from supervisor.config.options import Config
from supervisor.config.schema import AppConfig, log_level_given
from supervisor.server.server import configure_logging

pytestmark = pytest.mark.usefixtures("restore_logging")

QUIET = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"f": {"format": "Q %(levelname)s %(name)s %(message)s"}},
    "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f", "stream": "ext://sys.stdout"}},
    "loggers": {
        "uvicorn": {"handlers": ["h"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"handlers": ["h"], "level": "WARNING", "propagate": False},
    },
}
ROOT_ONLY = {
    "version": 1,
    "formatters": {"f": {"format": "ROOT %(levelname)s %(name)s %(message)s"}},
    "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f", "stream": "ext://sys.stdout"}},
    "root": {"level": "INFO", "handlers": ["h"]},
}


@pytest.fixture
def other_loggers_kept() -> Iterator[None]:
    """A config with disable_existing_loggers disables every logger of this process: put them back."""
    loggers = [item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    saved = [(logger, logger.disabled) for logger in loggers]
    yield
    for logger, disabled in saved:
        logger.disabled = disabled


def _app(tmp_path: Path, config: dict[str, object], **keys: object) -> AppConfig:
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    return AppConfig(app="m:a", log_config=str(path), **keys)  # type: ignore[arg-type]


def _emit() -> None:
    logs.error_logger.info("started")
    logs.log_access("127.0.0.1:5000", "GET", "/x", "1.1", 200, 0.001)
    logs.error_logger.warning("careful")


def test_a_configs_levels_stand_when_no_level_is_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(_app(tmp_path, QUIET))
    _emit()
    assert capsys.readouterr().out == "Q WARNING serve.error careful\n"  # uvicorn.* taken as serve.*


def test_a_given_level_applies_over_the_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(_app(tmp_path, QUIET, log_level="info"))
    _emit()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Q INFO serve.error started"
    assert lines[1].startswith('Q INFO serve.access 127.0.0.1:5000 - "GET /x HTTP/1.1" 200')
    assert len(lines) == 3


@pytest.mark.usefixtures("other_loggers_kept")
def test_a_root_only_config_keeps_serves_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("serve.access").handlers = []  # as in a fresh process: no handler of serve's own
    logging.getLogger("serve.access").propagate = True
    logging.getLogger("serve").handlers = []
    logging.getLogger("serve").propagate = True
    configure_logging(_app(tmp_path, ROOT_ONLY))
    _emit()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ROOT INFO serve.error started"
    assert lines[1].startswith('ROOT INFO serve.access 127.0.0.1:5000 - "GET /x HTTP/1.1" 200')


def test_without_a_log_config_the_default_level_applies(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("serve.error").setLevel(logging.ERROR)
    configure_logging(AppConfig(app="m:a"))
    logs.error_logger.info("started")
    assert "INFO:     started" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("values", "environ", "given"),
    [  # SERVE_LOG_LEVEL reaches this as a value too: click reads it for --log-level
        ({}, {}, False),
        ({"log_level": "info"}, {}, True),
        ({"log_level": None}, {}, False),
    ],
)
def test_serve_run_tells_a_given_level(values: dict[str, object], environ: dict[str, str], given: bool) -> None:
    config = Config.from_command_line({"app": "m:a", **values}, environ).app_config
    assert config.log_level == "info"
    assert log_level_given(config) is given


def test_a_toml_key_is_a_given_level() -> None:
    text = '[apps.a]\napp = "m:a"\nbind = ["127.0.0.1:9"]\n[apps.b]\napp = "m:b"\nbind = ["127.0.0.1:8"]\nlog_level = "info"\n'
    apps = load_text(text, "serve.toml").apps
    assert (log_level_given(apps["a"]), log_level_given(apps["b"])) == (False, True)
    assert apps["a"].log_level == "info"
    assert log_level_given(Config(app="m:a").app_config) is False
    assert log_level_given(Config(app="m:a", log_level="info").app_config) is True
