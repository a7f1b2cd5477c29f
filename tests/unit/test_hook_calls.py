"""Hooks: the `Hooks` kind that checks [server.hooks] and [apps.NAME.hooks] tables at load, and
supervisor/hooks.py, which imports a "module:function" where it runs and calls it with a context.

The hook functions are tests/apps/hook_probe.py's, imported for real.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
from support import APPS_DIR

from supervisor.config import load_text
from supervisor.config.dump import dump_toml
from supervisor.config.kinds import Hooks, ItemError
from supervisor.config.schema import AppConfig, ServerSection
from supervisor.errors import EXIT_CONFIG, AppLoadError, ConfigError
from supervisor.hooks import HookContext, HookError, call, call_logged, master_context, resolve

APP_HOOKS = Hooks("post_fork", "worker_exit")
PROBE = APPS_DIR / "hook_probe.py"

# --- the kind: a table of known hook names, each a "module:function" --------------------------


def test_a_hooks_table_becomes_a_read_only_mapping_and_converts_again_to_itself() -> None:
    hooks = APP_HOOKS.convert({"post_fork": "otel.setup:init", "worker_exit": "pools:close_all"})
    assert hooks == {"post_fork": "otel.setup:init", "worker_exit": "pools:close_all"}
    assert isinstance(hooks, MappingProxyType)
    assert APP_HOOKS.convert(hooks) == hooks
    assert APP_HOOKS.to_toml(hooks) == {"post_fork": "otel.setup:init", "worker_exit": "pools:close_all"}
    assert APP_HOOKS.convert({}) == {}


@pytest.mark.parametrize("raw", ["otel:init", ["otel:init"], 3])
def test_a_hooks_value_that_is_no_table_is_refused(raw: object) -> None:
    with pytest.raises(ValueError, match=r"expected a table of hooks \(post_fork, worker_exit\)"):
        APP_HOOKS.convert(raw)


def test_every_bad_entry_is_reported_with_its_name() -> None:
    raw = {"post_frok": "a:b", "startup": "a:b", "worker_exit": "a.b", "post_fork": 3}
    with pytest.raises(ItemError) as caught:
        APP_HOOKS.convert(raw)
    assert caught.value.items == [
        ("post_frok", 'unknown hook; did you mean "post_fork"? (hooks here: post_fork, worker_exit)'),
        ("startup", "unknown hook (hooks here: post_fork, worker_exit)"),
        ("worker_exit", 'expected "module:function", got "a.b"'),
        ("post_fork", 'expected "module:function", got 3'),
    ]


@pytest.mark.parametrize("target", ["a:", ":b", "a b:c", "a:b-c", "a..b:c"])
def test_only_the_syntax_of_dotted_names_is_accepted(target: str) -> None:
    with pytest.raises(ItemError):
        APP_HOOKS.convert({"post_fork": target})


# --- in the TOML file -------------------------------------------------------------------------

FILE = """\
[server.hooks]
on_starting = "setup:starting"
when_ready = "setup:ready"

[defaults.hooks]
post_fork = "otel:init"

[apps.api]
app = "m:app"
bind = ["127.0.0.1:9001"]

[apps.chat]
app = "m:app"
bind = ["127.0.0.1:9002"]
hooks = { worker_exit = "pools:close" }
"""


def test_the_file_declares_server_and_app_hooks_and_defaults_gives_every_app_its_table() -> None:
    serve_file = load_text(FILE, "serve.toml")
    assert serve_file.server.hooks == {"on_starting": "setup:starting", "when_ready": "setup:ready"}
    assert serve_file.apps["api"].hooks == {"post_fork": "otel:init"}
    # As env: an app's own table replaces the one in [defaults], it is not merged with it.
    assert serve_file.apps["chat"].hooks == {"worker_exit": "pools:close"}
    assert load_text(dump_toml(serve_file), "serve.toml") == serve_file


def test_no_hooks_by_default() -> None:
    assert AppConfig(app="m:a").hooks == {}
    assert ServerSection().hooks == {}


def test_a_bad_hook_is_reported_at_its_line_with_every_other_problem() -> None:
    text = (
        '[server.hooks]\non_reload = "setup"\n\n'
        '[apps.api]\napp = "m:app"\nworkers = 0\n\n[apps.api.hooks]\npost_fork = "otel:init"\nworker_exit = 1\n'
        'on_starting = "setup:go"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_text(text, "serve.toml")
    assert [str(problem) for problem in caught.value.problems] == [
        'serve.toml:2: server.hooks.on_reload: expected "module:function", got "setup"',
        "serve.toml:6: apps.api.workers: expected a positive integer, got 0",
        'serve.toml:10: apps.api.hooks.worker_exit: expected "module:function", got 1',
        "serve.toml:11: apps.api.hooks.on_starting: unknown hook (hooks here: post_fork, worker_exit)",
    ]


# --- importing and calling ----------------------------------------------------------------------


@pytest.fixture
def probe_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tests/apps/hook_probe.py writes; sys.path is restored after each test."""
    monkeypatch.setenv("HOOK_PROBE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry != str(APPS_DIR)])
    monkeypatch.delitem(sys.modules, "hook_probe", raising=False)
    return tmp_path


CONTEXT = HookContext(app="api", worker=1, pid=os.getpid(), generation=2)


def test_a_hook_is_imported_with_its_directory_first_on_sys_path_and_called_with_the_context(probe_dir: Path) -> None:
    call({"post_fork": "hook_probe:post_fork"}, "post_fork", CONTEXT, path=str(APPS_DIR))
    assert sys.path[0] == str(APPS_DIR)
    told = json.loads((probe_dir / f"post_fork-1-{os.getpid()}").read_text())
    assert told == {
        "app": "api",
        "worker": 1,
        "pid": os.getpid(),
        "generation": 2,
        "apps": [],
        "getpid": os.getpid(),
        "app_imported": "master_apps" in sys.modules,
    }
    call({"post_fork": "hook_probe:post_fork"}, "post_fork", CONTEXT, path=str(APPS_DIR))
    assert sys.path.count(str(APPS_DIR)) == 1  # added once


def test_a_hook_the_table_does_not_name_is_not_called(probe_dir: Path) -> None:
    call({"post_fork": "hook_probe:fail"}, "worker_exit", CONTEXT)
    assert call_logged({}, "post_fork", CONTEXT) is None
    assert list(probe_dir.iterdir()) == []


def test_resolve_without_a_path_leaves_sys_path_alone(probe_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(APPS_DIR))
    before = list(sys.path)
    assert resolve("hook_probe:worker_exit").__name__ == "worker_exit"
    assert sys.path == before


def test_a_hook_that_raises_is_a_hook_error_naming_it_with_the_line_that_raised(
    probe_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="serve.error"), pytest.raises(HookError) as caught:
        call({"post_fork": "hook_probe:fail"}, "post_fork", CONTEXT, path=str(APPS_DIR))
    error = caught.value
    line = next(number for number, text in enumerate(PROBE.read_text().splitlines(), 1) if "hook says no" in text)
    assert str(error) == f"post_fork hook hook_probe:fail failed: RuntimeError: hook says no ({PROBE}:{line})"
    assert (error.hook, error.target, error.exit_code) == ("post_fork", "hook_probe:fail", EXIT_CONFIG)
    assert isinstance(error.__cause__, RuntimeError)
    (record,) = caplog.records
    assert record.getMessage() == str(error)
    assert "Traceback" in caplog.text
    assert 'raise RuntimeError("hook says no")' in caplog.text


def test_call_logged_returns_the_failure_instead_of_raising_it(probe_dir: Path) -> None:
    failed = call_logged({"worker_exit": "hook_probe:fail"}, "worker_exit", CONTEXT, path=str(APPS_DIR))
    assert isinstance(failed, HookError)
    assert str(failed).startswith("worker_exit hook hook_probe:fail failed: RuntimeError: hook says no (")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("hook_probe_missing:init", "ModuleNotFoundError: No module named 'hook_probe_missing'"),
        ("hook_probe:nothing", 'attribute "nothing" not found in module "hook_probe"'),
        ("hook_probe:not_callable", '"hook_probe:not_callable" is not callable (got int)'),
        ("hook_probe:asynchronous", "TypeError: a hook is a plain function; this one is async"),
    ],
)
def test_a_hook_that_cannot_be_called_says_why(probe_dir: Path, target: str, reason: str) -> None:
    with pytest.raises(HookError) as caught:
        call({"on_reload": target}, "on_reload", master_context(), path=str(APPS_DIR))
    assert str(caught.value).startswith(f"on_reload hook {target} failed: {reason}")


def test_a_hook_that_exits_is_a_failure_too(probe_dir: Path) -> None:
    with pytest.raises(HookError, match=r"^on_starting hook hook_probe:leave failed: SystemExit: 2"):
        call({"on_starting": "hook_probe:leave"}, "on_starting", master_context(), path=str(APPS_DIR))


def test_the_masters_context_names_no_app_or_worker() -> None:
    assert master_context(["api", "chat"]) == HookContext(
        app=None, worker=None, pid=os.getpid(), generation=None, apps=("api", "chat")
    )
    assert master_context().apps == ()


def test_an_import_error_keeps_apploaderror_as_its_cause(probe_dir: Path) -> None:
    with pytest.raises(HookError) as caught:
        call({"post_fork": "hook_probe_missing:init"}, "post_fork", CONTEXT)
    assert isinstance(caught.value.__cause__, AppLoadError)


def test_the_child_of_a_hook_that_forked_never_returns_from_the_call(tmp_path: Path) -> None:
    marker = tmp_path / "returned"
    pid = os.fork()
    if pid == 0:  # a stand-in master: only the process that called the hook may go on
        try:
            call({"on_reload": "hook_probe:forks"}, "on_reload", master_context(), path=str(APPS_DIR))
            marker.open("a").write(f"{os.getpid()}\n")
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert marker.read_text().split() == [str(pid)]  # the hook's child (waited for by the hook) wrote nothing


def test_a_master_hook_is_imported_from_the_directory_the_master_started_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sys.path[0] of the `serve` console script is its bin directory: "" means the start directory."""
    (tmp_path / "hook_in_start_dir.py").write_text(
        "CALLED = []\n\ndef hook(context):\n    CALLED.append(context.pid)\n"
    )
    monkeypatch.setattr("supervisor.hooks.STARTED_IN", str(tmp_path))
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", str(tmp_path))])
    try:
        call({"on_reload": "hook_in_start_dir:hook"}, "on_reload", master_context())
        called = sys.modules["hook_in_start_dir"].CALLED
        assert called == [os.getpid()]
    finally:
        sys.modules.pop("hook_in_start_dir", None)
    assert sys.path[0] == str(tmp_path)
