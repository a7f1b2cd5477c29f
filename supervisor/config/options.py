"""uvicorn's interface to the settings: the `Config(app, **options)` keywords and the `serve run` flags, both from the schema."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import click

from supervisor.config.convert import Bind, FdBind, TcpBind, UnixBind
from supervisor.config.kinds import Boolean, Choice, Kind, ListOf, Maybe
from supervisor.config.locate import KeyPath
from supervisor.config.schema import APP_SETTINGS, BIND_KEYWORDS, DEFAULT_HOST, DEFAULT_PORT, AppConfig, Setting
from supervisor.config.validate import Issue, check_app, convert, suggest
from supervisor.errors import ConfigError, Problem

ENVVAR_PREFIX = "SERVE"

_KEYWORDS: dict[str, Setting] = {setting.key.keyword: setting for setting in APP_SETTINGS if setting.key.keyword}
_BIND_KEYWORDS: dict[str, Setting] = {setting.name: setting for setting in BIND_KEYWORDS}
_FLAGS: dict[str, str] = {
    setting.key.keyword: setting.key.flag.partition("/")[0]
    for setting in (*APP_SETTINGS, *BIND_KEYWORDS)
    if setting.key.keyword and setting.key.flag
}


class Config:
    """The settings of one app, built from uvicorn's keywords: `Config("main:app", port=8001, workers=2)`.

    Every keyword of uvicorn's `Config` that serve implements is accepted under its uvicorn name,
    plus timeout_request_header and max_request_header_size. None means "the default", as in uvicorn,
    except where None is itself a value (ws_ping_interval=None: no pings). The result is read-only;
    `app_config` holds it in serve's own terms.

    Raises:
        TypeError: an unknown keyword (with the likely intended one).
        ConfigError: invalid values, every one of them.
    """

    __slots__ = ("_app_config",)
    _app_config: AppConfig

    def __init__(
        self,
        app: str | Callable[..., Any],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        uds: str | os.PathLike[str] | None = None,
        fd: int | None = None,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(_KEYWORDS))
        if unknown:
            raise TypeError(_unknown_keywords_message(unknown))
        given = {"app": app, "host": host, "port": port, "uds": uds, "fd": fd, **options}
        object.__setattr__(self, "_app_config", _build(given, os.environ, source="Config()", naming=_keyword_name))

    @classmethod
    def from_app_config(cls, app_config: AppConfig) -> Config:
        """Wrap settings already validated (an app of a TOML file, or a `dataclasses.replace` of another)."""
        config = cls.__new__(cls)
        object.__setattr__(config, "_app_config", app_config)
        return config

    @classmethod
    def from_command_line(cls, values: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
        """Build from `serve run`'s parsed options (None or () for a flag not given); problems name the flags."""
        given = {name: value for name, value in values.items() if value is not None and value != ()}
        config = cls.__new__(cls)
        object.__setattr__(config, "_app_config", _build(given, environ, source="serve run", naming=_flag_name))
        return config

    @property
    def app_config(self) -> AppConfig:
        return self._app_config

    @property
    def app(self) -> str | Callable[..., Any]:
        return self._app_config.app

    @property
    def host(self) -> str:
        return next((bind.host for bind in self._app_config.bind if isinstance(bind, TcpBind)), DEFAULT_HOST)

    @property
    def port(self) -> int:
        return next((bind.port for bind in self._app_config.bind if isinstance(bind, TcpBind)), DEFAULT_PORT)

    @property
    def uds(self) -> str | None:
        return next((bind.path for bind in self._app_config.bind if isinstance(bind, UnixBind)), None)

    @property
    def fd(self) -> int | None:
        return next((bind.fd for bind in self._app_config.bind if isinstance(bind, FdBind)), None)

    @property
    def is_ssl(self) -> bool:
        return bool(self._app_config.ssl_keyfile or self._app_config.ssl_certfile)

    def __getattr__(self, name: str) -> Any:
        setting = _KEYWORDS.get(name)
        if setting is None:
            raise AttributeError(f"'Config' object has no attribute {name!r}")
        value = getattr(self._app_config, setting.name)
        if name == "limit_max_requests" and value == 0:
            return None  # uvicorn's spelling of "never"
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"Config is read-only (setting {name!r}): pass the value to Config(...), or build one with "
            "Config.from_app_config(dataclasses.replace(config.app_config, ...))"
        )

    def __repr__(self) -> str:
        defaults = {setting.name: setting.default for setting in APP_SETTINGS}
        changed = [
            f"{name}={getattr(self._app_config, name)!r}"
            for name in defaults
            if name != "app" and getattr(self._app_config, name) != defaults[name]
        ]
        return f"Config({', '.join([repr(self._app_config.app), *changed])})"


def _keyword_name(name: str) -> str:
    return name


def _flag_name(name: str) -> str:
    return _FLAGS.get(name, name)


def _unknown_keywords_message(unknown: list[str]) -> str:
    parts = []
    for name in unknown:
        guess = suggest(name, [*_KEYWORDS, *_BIND_KEYWORDS])
        parts.append(f"{name!r} (did you mean {guess!r}?)" if guess else repr(name))
    return f"Config() got unexpected keyword argument{'s' if len(parts) > 1 else ''} {', '.join(parts)}"


def _build(
    given: Mapping[str, Any], environ: Mapping[str, str], *, source: str, naming: Callable[[str], str]
) -> AppConfig:
    issues: list[Issue] = []
    values: dict[str, Any] = {}
    for keyword, setting in _KEYWORDS.items():
        raw = given.get(keyword)
        nullable = isinstance(setting.key.kind, Maybe)
        if raw is None and not nullable:
            raw = _fallback(setting, environ, issues)
        if raw is None and not setting.required and (not nullable or keyword not in given):
            continue  # the schema's default
        ok, value = convert(setting.key.kind, raw, (keyword,), issues)
        if ok:
            values[setting.name] = value
    bind = _bind(given, issues)
    if bind is not None:
        values["bind"] = bind
    if not issues:
        issues = [Issue((_keyword_of(issue.path),), issue.message) for issue in check_app(values)]
    if issues:
        raise ConfigError([Problem(source, None, _name_path(issue.path, naming), issue.message) for issue in issues])
    return AppConfig(**values)


def _fallback(setting: Setting, environ: Mapping[str, str], issues: list[Issue]) -> Any:
    """uvicorn's environment defaults (WEB_CONCURRENCY, FORWARDED_ALLOW_IPS) for a setting not given."""
    variable = setting.key.fallback_env
    if variable is None or variable not in environ:
        return None
    return convert(setting.key.kind, environ[variable], (variable,), issues, text=True)[1]


def _bind(given: Mapping[str, Any], issues: list[Issue]) -> tuple[Bind, ...] | None:
    """uvicorn's choice of one address: fd if given, else uds, else host and port."""
    for name, wrap in (("fd", FdBind), ("uds", UnixBind)):
        if given.get(name) is not None:
            ok, value = convert(_BIND_KEYWORDS[name].key.kind, given[name], (name,), issues)
            return (wrap(value),) if ok else None
    host_ok, host = _bind_part("host", given, issues)
    port_ok, port = _bind_part("port", given, issues)
    return (TcpBind(host, port),) if host_ok and port_ok else None


def _bind_part(name: str, given: Mapping[str, Any], issues: list[Issue]) -> tuple[bool, Any]:
    setting = _BIND_KEYWORDS[name]
    raw = given.get(name)
    return convert(setting.key.kind, setting.default if raw is None else raw, (name,), issues)


def _keyword_of(path: KeyPath) -> str:
    setting = next(setting for setting in APP_SETTINGS if setting.name == path[0])
    return setting.key.keyword or setting.name


def _name_path(path: KeyPath, naming: Callable[[str], str]) -> str:
    head, *rest = path
    return naming(str(head)) + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest)


# -- serve run


def run_params() -> list[click.Parameter]:
    """The APP argument and every `serve run` option, in schema order, named by their Config keywords.

    Options default to None (or () when repeatable), so `Config.from_command_line` can tell a
    flag not given from one given with the default value; help shows the real defaults.
    """
    target = _KEYWORDS["app"]
    params: list[click.Parameter] = [
        click.Argument(["app"], envvar=f"{ENVVAR_PREFIX}_APP", type=_KindType(target.key.kind))
    ]
    params.extend(_run_options())
    return params


def _run_options() -> Iterator[click.Option]:
    for declared in APP_SETTINGS:
        for setting in BIND_KEYWORDS if declared.name == "bind" else (declared,):
            if setting.key.flag and setting.key.keyword:
                yield _option(setting, setting.key.flag, setting.key.keyword)


def _option(setting: Setting, flag: str, keyword: str) -> click.Option:
    key = setting.key
    kind = key.kind.inner if isinstance(key.kind, Maybe) else key.kind
    decls = [flag, keyword]
    help_text = key.help + _default_note(setting, flag)
    if isinstance(kind, Boolean) and not key.flag_takes_value:
        return click.Option(decls, is_flag=True, default=None, help=help_text)
    if isinstance(kind, Boolean):
        return click.Option(decls, type=click.BOOL, default=None, help=help_text)
    if isinstance(kind, ListOf):
        return click.Option(decls, type=_click_type(kind.item), multiple=True, metavar=kind.metavar, help=help_text)
    return click.Option(decls, type=_click_type(kind), default=None, metavar=kind.metavar, help=help_text)


def _default_note(setting: Setting, flag: str) -> str:
    key = setting.key
    default = key.kind.to_toml(setting.default)
    if isinstance(default, bool):
        # A lone flag such as --reload is off unless given; only pairs and valued flags show it.
        shown = str(default).lower() if "/" in flag or key.flag_takes_value else ""
    elif isinstance(default, list):
        shown = ",".join(str(item) for item in default)
    else:
        shown = "" if default is None else str(default)
    if key.fallback_env:
        shown = f"${key.fallback_env} if set, else {shown}"
    return f"  [default: {shown}]" if shown else ""


def _click_type(kind: Kind) -> click.ParamType[Any]:
    if isinstance(kind, Choice):
        return click.Choice([*kind.choices, *kind.aliases], case_sensitive=False)
    if kind.must_exist:
        return click.Path(exists=True)
    return _KindType(kind)


if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:  # click before 8.2 has no subscriptable ParamType
    _ParamType = click.ParamType


class _KindType(_ParamType):
    """A click type that parses with the schema's kind, so a bad flag value reads like a bad TOML value."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.name = kind.metavar.lower()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.kind.from_text(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)
