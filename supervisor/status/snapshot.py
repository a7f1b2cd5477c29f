"""The one status shape: what `serve status --json` prints, the dashboard draws and /metrics exports.

No I/O: the master builds a `Snapshot` from its pools and slots; this module only holds it and
turns it into JSON and back.

JSON shape (`Snapshot.to_json()`; `Snapshot.from_json()` reads it back, ignoring keys it does
not know so that older clients can read newer masters):

    {
      "schema": 1,
      "master_pid": 4301,
      "config_path": "/srv/serve.toml",
      "started_at": 1767225600.0,          # the master's start, seconds since the epoch
      "uptime_s": 3600.0,
      "apps": [
        {
          "name": "api",
          "binds": ["127.0.0.1:8000", "unix:/run/api.sock"],
          "state": "running",              # running | starting | reloading | crashloop | stopping
          "generation": 2,
          "workers_desired": 4,
          "workers_ready": 4,
          "requests_total": 182733,
          "requests_per_s": 1204.5,
          "active_connections": 37,
          "websockets": 3,
          "http2": true,                   # its workers offer HTTP/2 (the app's http2 setting)
          "h2_connections": 5,             # HTTP/2 connections open now, of all its workers
          "h2_streams": 12,                # HTTP/2 streams open now (requests in flight on them)
          "h2_limits_exceeded": 2,         # HTTP/2 connections closed (or stalled streams reset) for a
                                           # broken limit, since the start (retired workers' included)
          "p50_ms": 1.8,                   # null until a request was timed
          "p99_ms": 41.0,
          "rss_bytes": 241172480,
          "restarts": 1,                   # workers replaced because they crashed or hung
          "requests_per_s_10s": 1187.2,    # the same rate over ten seconds
          "exits": {"max_requests": 12, "crash": 1},   # workers gone since the start, by why
          "last_error": null,              # or the latest crash / failed reload, as text
          "status_classes": [0, 182001, 12, 700, 20],   # 1xx 2xx 3xx 4xx 5xx responses since the start
          "latency_buckets": [0, 3, ...],  # live workers' responses per bucket (status/figures.py bounds)
          "status_rates": [0.0, 1180.3, 0.0, 6.6, 0.5],  # responses per second by class, over ten seconds
          "history_requests_per_s": [1150.0, ...],      # one sample a second, oldest first, the last minute
          "history_p99_ms": [38.2, null, ...],          # p99 of each second's responses; null: none
          "workers": [
            {"pid": 4312, "slot": 0, "generation": 2, "index": 0, "state": "ready", "age_s": 812.4,
             "requests": 45120, "rss_bytes": 60293120, "cpu_percent": 12.5, "active_requests": 2,
             "requests_per_s": 301.0, "active_connections": 9, "p50_ms": 1.7, "p99_ms": 39.5,
             "h2_connections": 1, "h2_streams": 3, "h2_limits_exceeded": 0}
          ]
        }
      ],
      "events": [                          # oldest first
        {"time": 1767229100.2, "app": "api", "kind": "reload", "message": "generation 2 serving"}
      ],
      "lines_dropped": {"stderr": 0, "/var/log/api.log": 120}   # output lines dropped, by destination
    }

Worker states are starting | ready | retiring | exited. Event kinds are the `EventKind`
values; an event's "app" is null when it concerns the master (a configuration error).

Latency percentiles (an app's and a worker's p50_ms and p99_ms) are read from the live
workers' histograms, i.e. over each worker's life; the history's p99 is each second's own. The
history holds up to `HISTORY_SAMPLES` samples (fewer in the master's first minute), so that
`serve top` draws the same sparklines as `serve up`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

SCHEMA = 1
HISTORY_SAMPLES = 60  # one a second: the dashboard's sparklines cover the last minute


class AppState(str, Enum):
    """What an app is doing as a whole."""

    RUNNING = "running"
    STARTING = "starting"  # no worker of it has become ready yet
    RELOADING = "reloading"  # a new generation is replacing the old one
    CRASHLOOP = "crashloop"  # its workers keep failing at start; retried at the longest backoff
    STOPPING = "stopping"


class WorkerState(str, Enum):
    """Where a worker is in its life: starting -> ready -> retiring -> exited."""

    STARTING = "starting"
    READY = "ready"
    RETIRING = "retiring"
    EXITED = "exited"


class EventKind(str, Enum):
    """What an `Event` reports."""

    START = "start"
    READY = "ready"
    RETIRE = "retire"
    EXIT = "exit"
    CRASH = "crash"
    RELOAD = "reload"
    RELOAD_FAILED = "reload_failed"
    CONFIG_ERROR = "config_error"
    SCALE = "scale"
    HEALTH_KILL = "health_kill"
    MEMORY_RETIRE = "memory_retire"
    STOP = "stop"
    MASTER_ERROR = "master_error"  # a handler in the master's loop failed; supervision went on


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to an app (or to the master, when `app` is None), at wall-clock `time`."""

    time: float
    app: str | None
    kind: EventKind
    message: str


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One worker process as the master last saw it."""

    pid: int
    slot: int
    generation: int
    state: WorkerState
    age_s: float
    requests: int
    rss_bytes: int
    cpu_percent: float
    active_requests: int
    requests_per_s: float = 0.0  # over the last second
    active_connections: int = 0
    p50_ms: float | None = None  # over the worker's life; None until a response was timed
    p99_ms: float | None = None
    index: int = 0  # its place in the app, 0..workers-1 (SERVE_WORKER_ID); a replacement takes it over
    h2_connections: int = 0  # HTTP/2 connections open now (counted in active_connections too)
    h2_streams: int = 0  # HTTP/2 streams open now
    h2_limits_exceeded: int = 0  # HTTP/2 connections closed, or stalled streams reset, for a broken limit


@dataclass(frozen=True, slots=True)
class AppStatus:
    """One app: its pool, its traffic summed over its workers, and the workers themselves."""

    name: str
    binds: tuple[str, ...]
    state: AppState
    generation: int
    workers_desired: int
    workers_ready: int
    requests_total: int
    requests_per_s: float
    active_connections: int
    websockets: int
    p50_ms: float | None
    p99_ms: float | None
    rss_bytes: int
    restarts: int
    last_error: str | None
    workers: tuple[WorkerStatus, ...] = ()
    status_classes: tuple[int, ...] = ()  # responses by class: 1xx, 2xx, 3xx, 4xx, 5xx (since the start)
    requests_per_s_10s: float = 0.0  # requests_per_s is over the last second; this over ten
    exits: Mapping[str, int] = dataclasses.field(default_factory=dict)  # workers gone, by why: crash, max_requests...
    latency_buckets: tuple[int, ...] = ()  # responses per latency bucket of the live workers (figures.py bounds)
    status_rates: tuple[float, ...] = ()  # responses per second by class (1xx ... 5xx) over the last ten seconds
    history_requests_per_s: tuple[float, ...] = ()  # one sample a second, oldest first (HISTORY_SAMPLES at most)
    history_p99_ms: tuple[float | None, ...] = ()  # each second's p99; None for a second without responses
    http2: bool = False  # its workers offer HTTP/2, as they last reported: HTTP/2 figures are shown for it
    h2_connections: int = 0  # HTTP/2 connections open now, over its live workers
    h2_streams: int = 0  # HTTP/2 streams open now, over its live workers
    h2_limits_exceeded: int = 0  # broken HTTP/2 limits since the start, retired workers' included

    @property
    def serves_http2(self) -> bool:
        """Whether HTTP/2 figures concern the app: it offers HTTP/2, or has some (a snapshot without the flag)."""
        return self.http2 or self.h2_connections > 0 or self.h2_streams > 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole master at one moment."""

    master_pid: int
    config_path: str
    started_at: float
    uptime_s: float
    apps: tuple[AppStatus, ...] = ()
    events: tuple[Event, ...] = ()
    # Worker and master lines dropped since the start, by destination ("stderr" or a log file's
    # path) that stalled or failed: only destinations that dropped something.
    lines_dropped: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        """Requests per second over every app."""
        return sum(app.requests_per_s for app in self.apps)

    def app(self, name: str) -> AppStatus | None:
        """The app called `name`, if there is one."""
        return next((app for app in self.apps if app.name == name), None)

    def to_dict(self) -> dict[str, object]:
        """The snapshot as plain JSON values (the shape in this module's docstring)."""
        return {"schema": SCHEMA, **_plain_fields(self)}

    def to_json(self, *, indent: int | None = None) -> str:
        """The snapshot as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: object) -> Snapshot:
        """Read a snapshot back from `to_dict`'s shape.

        Raises:
            ValueError: a key is missing or has the wrong type; the message gives its path.
        """
        fields = _Fields(data, "status")
        schema = fields.integer("schema")
        if schema != SCHEMA:
            raise ValueError(f"status.schema: expected {SCHEMA}, got {schema} (a newer serve?)")
        return cls(
            master_pid=fields.integer("master_pid"),
            config_path=fields.text("config_path"),
            started_at=fields.number("started_at"),
            uptime_s=fields.number("uptime_s"),
            apps=tuple(_app(item) for item in fields.objects("apps")),
            events=tuple(_event(item) for item in fields.objects("events")),
            lines_dropped=fields.counts("lines_dropped"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        """Read a snapshot back from `to_json`'s text.

        Raises:
            ValueError: not JSON, or not a snapshot; the message says where.
        """
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ValueError(f"status: not JSON: {error}") from None
        return cls.from_dict(data)


def _plain_fields(record: Snapshot | AppStatus | WorkerStatus | Event) -> dict[str, object]:
    return {item.name: _plain(getattr(record, item.name)) for item in dataclasses.fields(record)}


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (AppStatus, WorkerStatus, Event)):
        return _plain_fields(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _app(fields: _Fields) -> AppStatus:
    return AppStatus(
        name=fields.text("name"),
        binds=tuple(fields.texts("binds")),
        state=fields.choice("state", AppState),
        generation=fields.integer("generation"),
        workers_desired=fields.integer("workers_desired"),
        workers_ready=fields.integer("workers_ready"),
        requests_total=fields.integer("requests_total"),
        requests_per_s=fields.number("requests_per_s"),
        active_connections=fields.integer("active_connections"),
        websockets=fields.integer("websockets"),
        p50_ms=fields.maybe_number("p50_ms"),
        p99_ms=fields.maybe_number("p99_ms"),
        rss_bytes=fields.integer("rss_bytes"),
        restarts=fields.integer("restarts"),
        last_error=fields.maybe_text("last_error"),
        workers=tuple(_worker(item) for item in fields.objects("workers")),
        status_classes=tuple(fields.integers("status_classes")),
        requests_per_s_10s=fields.number("requests_per_s_10s", default=0.0),
        exits=fields.counts("exits"),
        latency_buckets=tuple(fields.integers("latency_buckets")),
        status_rates=tuple(fields.numbers("status_rates")),
        history_requests_per_s=tuple(fields.numbers("history_requests_per_s")),
        history_p99_ms=tuple(fields.maybe_numbers("history_p99_ms")),
        http2=fields.boolean("http2", default=False),
        h2_connections=fields.integer("h2_connections", default=0),
        h2_streams=fields.integer("h2_streams", default=0),
        h2_limits_exceeded=fields.integer("h2_limits_exceeded", default=0),
    )


def _worker(fields: _Fields) -> WorkerStatus:
    return WorkerStatus(
        pid=fields.integer("pid"),
        slot=fields.integer("slot"),
        generation=fields.integer("generation"),
        state=fields.choice("state", WorkerState),
        age_s=fields.number("age_s"),
        requests=fields.integer("requests"),
        rss_bytes=fields.integer("rss_bytes"),
        cpu_percent=fields.number("cpu_percent"),
        active_requests=fields.integer("active_requests"),
        requests_per_s=fields.number("requests_per_s", default=0.0),
        active_connections=fields.integer("active_connections", default=0),
        p50_ms=fields.maybe_number("p50_ms", absent=True),
        p99_ms=fields.maybe_number("p99_ms", absent=True),
        index=fields.integer("index", default=0),
        h2_connections=fields.integer("h2_connections", default=0),
        h2_streams=fields.integer("h2_streams", default=0),
        h2_limits_exceeded=fields.integer("h2_limits_exceeded", default=0),
    )


def _event(fields: _Fields) -> Event:
    return Event(
        time=fields.number("time"),
        app=fields.maybe_text("app"),
        kind=fields.choice("kind", EventKind),
        message=fields.text("message"),
    )


_E = TypeVar("_E", bound=Enum)


class _Fields:
    """Typed access to one JSON object, with the object's path for error messages."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {_kind(data)}")
        self._data: dict[str, object] = data
        self._where = where

    def _get(self, key: str) -> object:
        if key not in self._data:
            raise ValueError(f"{self._where}.{key}: missing")
        return self._data[key]

    def _wrong(self, key: str, expected: str, value: object) -> ValueError:
        return ValueError(f"{self._where}.{key}: expected {expected}, got {_kind(value)}")

    def integer(self, key: str, *, default: int | None = None) -> int:
        if default is not None and key not in self._data:
            return default  # a field newer than the master that wrote the snapshot
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer", value)
        return value

    def number(self, key: str, *, default: float | None = None) -> float:
        if default is not None and key not in self._data:
            return default  # a field newer than the master that wrote the snapshot
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, "a number", value)
        return float(value)

    def maybe_number(self, key: str, *, absent: bool = False) -> float | None:
        """A number or null; with `absent`, a missing key (an older master) reads as null too."""
        if absent and key not in self._data:
            return None
        return None if self._get(key) is None else self.number(key)

    def boolean(self, key: str, *, default: bool) -> bool:
        """true or false; a missing key (a master older than the field) reads as `default`."""
        if key not in self._data:
            return default
        value = self._data[key]
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false", value)
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._wrong(key, "a string", value)
        return value

    def maybe_text(self, key: str) -> str | None:
        return None if self._get(key) is None else self.text(key)

    def choice(self, key: str, choices: type[_E]) -> _E:
        value = self.text(key)
        try:
            return choices(value)
        except ValueError:
            allowed = " | ".join(str(choice.value) for choice in choices)
            raise ValueError(f"{self._where}.{key}: expected {allowed}, got {value!r}") from None

    def _list(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._wrong(key, "a list", value)
        return value

    def texts(self, key: str) -> list[str]:
        items = self._list(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ValueError(f"{self._where}.{key}[{i}]: expected a string, got {_kind(item)}")
        return [str(item) for item in items]

    def counts(self, key: str) -> dict[str, int]:
        """An object of name -> integer; absent (an older master) reads as empty."""
        if key not in self._data:
            return {}
        value = self._data[key]
        if not isinstance(value, dict) or not all(
            isinstance(name, str) and type(count) is int for name, count in value.items()
        ):
            raise self._wrong(key, "an object of integers", value)
        return {str(name): int(count) for name, count in value.items()}

    def integers(self, key: str) -> list[int]:
        """A list of integers; an absent key (a master older than the field) reads as empty."""
        if key not in self._data:
            return []
        numbers = []
        for i, item in enumerate(self._list(key)):
            if type(item) is not int:
                raise ValueError(f"{self._where}.{key}[{i}]: expected an integer, got {_kind(item)}")
            numbers.append(item)
        return numbers

    def numbers(self, key: str) -> list[float]:
        """A list of numbers; an absent key (a master older than the field) reads as empty."""
        return [number for number in self._numbers(key, nullable=False) if number is not None]

    def maybe_numbers(self, key: str) -> list[float | None]:
        """A list of numbers and nulls; an absent key reads as empty."""
        return self._numbers(key, nullable=True)

    def _numbers(self, key: str, *, nullable: bool) -> list[float | None]:
        if key not in self._data:
            return []
        numbers: list[float | None] = []
        for i, item in enumerate(self._list(key)):
            if item is None and nullable:
                numbers.append(None)
            elif isinstance(item, bool) or not isinstance(item, (int, float)):
                expected = "a number or null" if nullable else "a number"
                raise ValueError(f"{self._where}.{key}[{i}]: expected {expected}, got {_kind(item)}")
            else:
                numbers.append(float(item))
        return numbers

    def objects(self, key: str) -> list[_Fields]:
        return [_Fields(item, f"{self._where}.{key}[{i}]") for i, item in enumerate(self._list(key))]


def _kind(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r:.40}"
