"""load_app: import targets, factories, interface detection and the error for each failure."""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import operator
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor._types import ASGIApp, Message, Receive, Scope, Send
from supervisor.asgi.adapters import ASGI2Adapter
from supervisor.asgi.loader import _failed_import, detect_interface, load_app, looks_like_factory
from supervisor.errors import AppLoadError, StartupError

WriteModule = Callable[[str], str]


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """Write a uniquely named module under tmp_path; return its name. Cleans sys.modules and sys.path."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"app_{uuid.uuid4().hex[:12]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def run_http(app: ASGIApp, *, body: bytes = b"") -> list[Message]:
    """Drive one HTTP request through an ASGI3 app and return what it sent."""
    sent: list[Message] = []
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    return sent


ASGI3_SOURCE = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi3"})
"""


# -- import target format and failures -------------------------------------------------------


@pytest.mark.parametrize("target", ["main", ":app", "main:", "main:a..b", "main:app.", ".main:app"])
def test_malformed_target_says_what_format_is_expected(target: str) -> None:
    with pytest.raises(AppLoadError, match=f'expected "module:attribute", got "{target}"'):
        load_app(target)


def test_missing_module_is_named() -> None:
    with pytest.raises(AppLoadError) as info:
        load_app("serve_test_no_such_module:app")
    assert str(info.value) == (
        'could not import module "serve_test_no_such_module": no module named "serve_test_no_such_module"'
    )
    assert info.value.__cause__ is None


def test_missing_parent_package_counts_as_the_target_missing() -> None:
    with pytest.raises(
        AppLoadError, match=r'could not import module "serve_no_pkg.sub": no module named "serve_no_pkg"'
    ):
        load_app("serve_no_pkg.sub:app")


def test_import_error_inside_the_module_shows_the_real_error(write_module: WriteModule) -> None:
    name = write_module("import serve_test_missing_dependency\napp = None\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{name}:app")
    message = str(info.value)
    assert message.startswith(
        f"error while importing \"{name}\": ModuleNotFoundError: No module named 'serve_test_missing_dependency'"
    )
    assert f"{name}.py:1)" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_exception_while_importing_points_at_its_line(write_module: WriteModule) -> None:
    name = write_module("x = 1\nraise RuntimeError('no database')\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{name}:app")
    assert str(info.value).startswith(f'error while importing "{name}": RuntimeError: no database (at ')
    assert str(info.value).endswith(f"{name}.py:2)")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_syntax_error_names_file_and_line(write_module: WriteModule) -> None:
    name = write_module("def broken(:\n    pass\n")
    with pytest.raises(AppLoadError, match=rf'error while importing "{name}": SyntaxError: .*{name}\.py, line 1'):
        load_app(f"{name}:app")


def test_system_exit_while_importing_is_a_load_error(write_module: WriteModule) -> None:
    name = write_module("raise SystemExit(2)\n")
    with pytest.raises(AppLoadError, match=rf'error while importing "{name}": SystemExit: 2'):
        load_app(f"{name}:app")


def test_load_errors_are_startup_errors_with_exit_code_3() -> None:
    with pytest.raises(StartupError) as info:
        load_app("nocolon")
    assert info.value.exit_code == 3


def test_missing_attribute_suggests_a_close_name(write_module: WriteModule) -> None:
    name = write_module(ASGI3_SOURCE)
    with pytest.raises(AppLoadError) as info:
        load_app(f"{name}:ap")
    assert str(info.value) == f'attribute "ap" not found in module "{name}"; did you mean "app"?'


def test_missing_attribute_without_close_name(write_module: WriteModule) -> None:
    name = write_module(ASGI3_SOURCE)
    with pytest.raises(AppLoadError) as info:
        load_app(f"{name}:zzzz")
    assert str(info.value) == f'attribute "zzzz" not found in module "{name}"'


def test_missing_dotted_attribute_names_the_missing_link(write_module: WriteModule) -> None:
    name = write_module("class holder:\n    pass\n")
    with pytest.raises(AppLoadError) as info:
        load_app(f"{name}:holder.app")
    assert str(info.value) == (f'attribute "holder.app" not found in module "{name}": "holder" has no attribute "app"')


def test_dotted_attribute_is_walked(write_module: WriteModule) -> None:
    name = write_module(f"import types\nholder = types.SimpleNamespace()\n{ASGI3_SOURCE}\nholder.app = app\n")
    app = load_app(f"{name}:holder.app")
    assert run_http(app)[1]["body"] == b"asgi3"


def test_not_callable_names_the_type(write_module: WriteModule) -> None:
    name = write_module("app = 42\n")
    with pytest.raises(AppLoadError, match=rf'"{name}:app" is not callable \(got int\)'):
        load_app(f"{name}:app")


def test_app_dir_is_put_first_on_sys_path_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    app_dir = tmp_path / "src"
    app_dir.mkdir()
    name = f"app_{uuid.uuid4().hex[:12]}"
    (app_dir / f"{name}.py").write_text(textwrap.dedent(ASGI3_SOURCE))
    monkeypatch.chdir(tmp_path)
    try:
        load_app(f"{name}:app", app_dir="src")
        load_app(f"{name}:app", app_dir="src")
    finally:
        sys.modules.pop(name, None)
    assert sys.path[0] == str(app_dir)
    assert sys.path.count(str(app_dir)) == 1


def test_empty_app_dir_leaves_sys_path_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)
    with pytest.raises(AppLoadError):
        load_app("serve_test_no_such_module:app")
    assert sys.path == before


# -- factories --------------------------------------------------------------------------------


FACTORY_SOURCE = f"""
{ASGI3_SOURCE}
calls = []

def create_app():
    calls.append(1)
    return app

def failing_factory():
    raise ValueError("missing SECRET_KEY")

def returns_nothing():
    return None

async def async_factory():
    return app
"""


def test_factory_flag_calls_the_factory(write_module: WriteModule, caplog: pytest.LogCaptureFixture) -> None:
    name = write_module(FACTORY_SOURCE)
    app = load_app(f"{name}:create_app", factory=True)
    assert sys.modules[name].calls == [1]
    assert run_http(app)[1]["body"] == b"asgi3"
    assert not caplog.records


def test_factory_is_detected_with_a_warning(write_module: WriteModule, caplog: pytest.LogCaptureFixture) -> None:
    name = write_module(FACTORY_SOURCE)
    with caplog.at_level(logging.WARNING, logger="serve.error"):
        app = load_app(f"{name}:create_app")
    assert sys.modules[name].calls == [1]
    assert run_http(app)[1]["body"] == b"asgi3"
    [record] = caplog.records
    assert record.name == "serve.error"
    assert record.levelno == logging.WARNING
    assert f'"{name}:create_app" takes no arguments' in record.getMessage()
    assert "factory = true" in record.getMessage()


def test_factory_failure_shows_the_factory_error(write_module: WriteModule) -> None:
    name = write_module(FACTORY_SOURCE)
    with pytest.raises(AppLoadError) as info:
        load_app(f"{name}:failing_factory", factory=True)
    assert str(info.value) == f'app factory "{name}:failing_factory" raised ValueError: missing SECRET_KEY'
    assert isinstance(info.value.__cause__, ValueError)


def test_factory_flag_on_an_app_reports_the_call_failure(write_module: WriteModule) -> None:
    name = write_module(ASGI3_SOURCE)
    with pytest.raises(AppLoadError, match=rf'app factory "{name}:app" raised TypeError: .*missing 3 required'):
        load_app(f"{name}:app", factory=True)


def test_factory_returning_a_non_callable(write_module: WriteModule) -> None:
    name = write_module(FACTORY_SOURCE)
    with pytest.raises(
        AppLoadError, match=rf'app factory "{name}:returns_nothing" returned NoneType, which is not callable'
    ):
        load_app(f"{name}:returns_nothing", factory=True)


def test_async_factory_is_refused_without_leaking_a_coroutine(write_module: WriteModule) -> None:
    name = write_module(FACTORY_SOURCE)
    with pytest.raises(AppLoadError, match=rf'app factory "{name}:async_factory" is a coroutine function'):
        load_app(f"{name}:async_factory", factory=True)


def test_factory_flag_with_an_object_target() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def create() -> ASGIApp:
        return app

    assert load_app(create, factory=True) is app


def test_object_target_is_returned_as_is_when_asgi3() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    assert load_app(app) is app


def test_non_callable_object_target_is_refused() -> None:
    with pytest.raises(AppLoadError, match=r'"float" is not callable \(got float\)'):
        load_app(3.5)  # type: ignore[arg-type]


def test_unknown_interface_is_refused() -> None:
    with pytest.raises(AppLoadError, match='interface must be one of auto, asgi3, asgi2, wsgi; got "asgi4"'):
        load_app("main:app", interface="asgi4")


# -- factory heuristics -----------------------------------------------------------------------


def _no_args() -> None:
    pass


def _optional_args(config: object = None) -> None:
    pass


def _star_args(*args: object) -> None:
    pass


def _one_arg(scope: object) -> None:
    pass


async def _async_no_args() -> None:
    pass


class _ZeroArgClass:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_no_args, True),
        (_optional_args, True),
        (_ZeroArgClass, True),
        (_star_args, False),
        (_one_arg, False),
        (_async_no_args, False),
        (_ZeroArgClass(), False),
        (operator.itemgetter(1), False),
    ],
)
def test_looks_like_factory(obj: Callable[..., Any], expected: bool) -> None:
    assert looks_like_factory(obj) is expected


# -- interface detection ----------------------------------------------------------------------


async def _asgi3_function(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi3 function"})


class _ASGI3Instance:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _asgi3_function(scope, receive, send)


class _ASGI2Class:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2 " + self.scope["path"].encode()})


def _asgi2_function(scope: Scope) -> Callable[[Receive, Send], Any]:
    return _ASGI2Class(scope)


class _AwaitableASGI3Class:
    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send

    def __await__(self) -> Any:
        return _asgi3_function({}, _never_receive, self.send).__await__()


async def _never_receive() -> Message:
    raise AssertionError("not expected")


def _sync_three_args(scope: Scope, receive: Receive, send: Send) -> Any:
    return _asgi3_function(scope, receive, send)


def _wsgi_function(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi " + environ["PATH_INFO"].encode()]


class _WSGIInstance:
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return _wsgi_function(environ, start_response)


@pytest.mark.parametrize(
    ("obj", "interface"),
    [
        (_asgi3_function, "asgi3"),
        (_ASGI3Instance(), "asgi3"),
        (functools.partial(_asgi3_function), "asgi3"),
        (_AwaitableASGI3Class, "asgi3"),
        (_sync_three_args, "asgi3"),
        (_star_args, "asgi3"),
        (operator.itemgetter(1), "asgi3"),
        (_ASGI2Class, "asgi2"),
        (_asgi2_function, "asgi2"),
        (_wsgi_function, "wsgi"),
        (_WSGIInstance(), "wsgi"),
    ],
)
def test_detect_interface(obj: Callable[..., Any], interface: str) -> None:
    assert detect_interface(obj) == interface


@pytest.mark.parametrize(
    ("obj", "body"),
    [
        (_asgi3_function, b"asgi3 function"),
        (_ASGI3Instance(), b"asgi3 function"),
        (_AwaitableASGI3Class, b"asgi3 function"),
        (_sync_three_args, b"asgi3 function"),
        (_ASGI2Class, b"asgi2 /"),
        (_asgi2_function, b"asgi2 /"),
    ],
)
def test_detected_app_serves_a_request(obj: Callable[..., Any], body: bytes) -> None:
    sent = run_http(load_app(obj))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == body


def test_asgi2_apps_are_wrapped() -> None:
    assert isinstance(load_app(_ASGI2Class), ASGI2Adapter)


def test_wsgi_app_is_wrapped_and_serves_a_request() -> None:
    app = load_app(_wsgi_function)
    assert type(app).__name__ == "WSGIMiddleware"
    sent = run_http(app)
    assert sent[0]["status"] == 200
    assert (b"content-type", b"text/plain") in [(k.lower(), v) for k, v in sent[0]["headers"]]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"wsgi /"


def test_explicit_interface_overrides_detection() -> None:
    # A one-argument callable would be detected as ASGI2; the explicit choice wins.
    def asgi2_looking(scope: Scope) -> Any:
        return _ASGI2Class(scope)

    loaded: object = load_app(asgi2_looking, interface="asgi3")
    assert loaded is asgi2_looking
    assert isinstance(load_app(_asgi3_function, interface="asgi2"), ASGI2Adapter)
    assert run_http(load_app(_WSGIInstance(), interface="wsgi"))[0]["status"] == 200


def test_module_target_with_wsgi_app(write_module: WriteModule) -> None:
    name = write_module(
        """
        def application(environ, start_response):
            start_response("201 Created", [])
            return [b"made"]
        """
    )
    sent = run_http(load_app(f"{name}:application"))
    assert sent[0]["status"] == 201


def test_failure_without_a_traceback_is_described_without_a_location() -> None:
    assert _failed_import("main", RuntimeError("boom")) == 'error while importing "main": RuntimeError: boom'
