"""config/access_format.py: gunicorn's access_log_format atoms, compiled once and checked at load."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from supervisor.config.access_format import ATOMS, AccessLogFormat, AccessRecord, compile_format


def scope(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "POST",
        "path": "/items/a b",
        "raw_path": b"/items/a%20b",
        "query_string": b"x=1",
        "http_version": "1.1",
        "client": ("10.0.0.7", 51234),
        "headers": [
            (b"user-agent", b"curl/8.5"),
            (b"referer", b"https://example.com/"),
            (b"x-trace", b"one"),
            (b"x-trace", b"two"),
        ],
    }
    base.update(changes)
    return base


def record(**changes: Any) -> AccessRecord:
    fields: dict[str, Any] = {
        "scope": scope(),
        "status": 201,
        "response_headers": [(b"Content-Type", b"application/json")],
        "sent": 1234,
        "duration_s": 1.2345678,
        "time_text": "[07/Dec/2026:15:31:24 +0000]",
    }
    fields.update(changes)
    return AccessRecord(**fields)


def line(source: str, entry: AccessRecord | None = None, **compile_options: Any) -> str:
    return compile_format(source, **compile_options).render(entry or record())


def test_gunicorns_common_format_with_timings() -> None:
    source = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(T)s %(D)s %(M)s %(L)s'
    assert line(source) == (
        '10.0.0.7 - - [07/Dec/2026:15:31:24 +0000] "POST /items/a%20b?x=1 HTTP/1.1" 201 1234'
        ' "https://example.com/" "curl/8.5" 1 1234567 1234 1.234568'
    )


@pytest.mark.parametrize(
    ("atom", "value"),
    [("m", "POST"), ("U", "/items/a b"), ("q", "x=1"), ("H", "HTTP/1.1"), ("s", 201), ("B", 1234), ("b", "1234")],
)
def test_request_and_response_atoms(atom: str, value: object) -> None:
    assert ATOMS[atom](record()) == value


def test_nothing_sent_is_a_dash_for_b_and_0_for_b_capital() -> None:
    assert line("%(b)s %(B)s", record(sent=0)) == "- 0"


def test_headers_by_name_in_any_case_several_values_joined_missing_ones_a_dash() -> None:
    assert line("%({X-Trace}i)s|%({content-type}o)s|%({x-none}i)s|%({x-none}o)s") == "one, two|application/json|-|-"


def test_a_target_without_query_or_raw_path_and_a_unix_socket_client() -> None:
    entry = record(scope=scope(raw_path=None, query_string=b"", client=None))
    assert line('%(h)s "%(r)s"', entry) == '- "POST /items/a b HTTP/1.1"'


@pytest.mark.parametrize(
    ("authorization", "user"),
    [
        (b"Basic " + base64.b64encode(b"alice:secret"), "alice"),
        (b"basic " + base64.b64encode(b":secret"), "-"),
        (b"Basic not-base64!", "-"),
        (b"Basic " + base64.b64encode(b"\xff\xfe:x"), "-"),
        (b"Bearer abc", "-"),
    ],
)
def test_user_from_http_basic(authorization: bytes, user: str) -> None:
    entry = record(scope=scope(headers=[(b"authorization", authorization)]))
    assert line("%(u)s", entry) == user


def test_pid_and_environment_are_fixed_at_compile_time() -> None:
    compiled = compile_format("%(p)s %({DEPLOY}e)s %({UNSET}e)s", pid=4312, environ={"DEPLOY": "blue"})
    assert compiled.atoms == ()  # nothing left to read per request
    assert compiled.render(record()) == "<4312> blue -"


def test_percent_signs_and_conversions() -> None:
    assert line("100%% %(s)d %(M)05d %(p)-8s|", pid=7) == "100% 201 01234 <7>     |"
    assert line("%({X}e)s%%", environ={"X": "50%"}) == "50%%"


def test_only_a_format_with_t_asks_for_the_time() -> None:
    assert compile_format("%(t)s").needs_time is True
    assert compile_format("%(h)s").needs_time is False


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("%(h)s %(x)s", "unknown atom %(x)s; known: h l u t r m U q H s B b f a T D M L p {NAME}i {NAME}o {NAME}e"),
        ("%(h)s 50%", '"%" at character 9 starts no %(atom)s; write a literal "%" as "%%"'),
        ("%(h", '"%" at character 1 starts no %(atom)s'),
        ("%(h)d", "'%(h)d' cannot be rendered: %d format: a real number is required, not str"),
        ("%(p)d", "%(p)d: %d format: a real number is required, not str"),
    ],
)
def test_mistakes_are_errors_naming_what_is_wrong(source: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        compile_format(source)


def test_the_setting_kind_keeps_the_text_and_rejects_bad_formats() -> None:
    kind = AccessLogFormat()
    assert kind.convert("%(h)s %(s)s") == "%(h)s %(s)s"
    assert kind.from_text("%(r)s") == "%(r)s"
    for bad in ("", 3):
        with pytest.raises(ValueError, match="expected a gunicorn access log format"):
            kind.convert(bad)
    with pytest.raises(ValueError, match="unknown atom"):
        kind.convert("%(nope)s")
