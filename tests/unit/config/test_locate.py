from __future__ import annotations

from supervisor._compat import parse_toml
from supervisor.config.locate import format_path, index_keys

DOCUMENT = """\
# serve.toml
[server]
log_level = "info"   # trailing comment with = and [brackets]

[defaults]
workers = 2

[apps.api]
app = "examples.api:app"
bind = [
  "127.0.0.1:8000",  # first
  # a comment line inside the array
  "[::1]:8000",

  "unix:/tmp/api.sock",
]
env = { DATABASE_URL = "sqlite:///db", "DOTTED.NAME" = 'x', nested = { deep = 1 } }
headers = ["X-A: 1", "X-B: \\"quoted\\" ]"]
description = \"\"\"
escaped \\\"\"\" quotes
[apps.fake]
app = "not a table"
\"\"\"
literal = '''
not = "a key"'''
when = 1979-05-27 07:32:00Z

[apps."my app"]
app = "m:a"
log_config.version = 1
log_config . formatters.plain = { format = "%(message)s" }

[apps.chat]
app = "examples.chat:app"
bind = [ [ "a", "b" ], [ "c" ] ]

[[extra]]
k = 1
[[extra]]
k = 2
tail = \"\"\"ends with two quotes\"\"\"\"\"
after = 1
"""


def test_the_document_is_valid_toml() -> None:
    assert parse_toml(DOCUMENT)["extra"][1]["tail"] == 'ends with two quotes""'
    assert parse_toml(DOCUMENT)["apps"]["api"]["description"].startswith('escaped """ quotes\n[apps.fake]')


def test_every_key_is_found_on_its_line() -> None:
    lines = index_keys(DOCUMENT)
    expected = {
        ("server",): 2,
        ("server", "log_level"): 3,
        ("defaults", "workers"): 6,
        ("apps",): 8,
        ("apps", "api"): 8,
        ("apps", "api", "app"): 9,
        ("apps", "api", "bind"): 10,
        ("apps", "api", "bind", 0): 11,
        ("apps", "api", "bind", 1): 13,
        ("apps", "api", "bind", 2): 15,
        ("apps", "api", "env"): 17,
        ("apps", "api", "env", "DATABASE_URL"): 17,
        ("apps", "api", "env", "DOTTED.NAME"): 17,
        ("apps", "api", "env", "nested", "deep"): 17,
        ("apps", "api", "headers", 1): 18,
        ("apps", "api", "description"): 19,
        ("apps", "api", "literal"): 24,
        ("apps", "api", "when"): 26,
        ("apps", "my app"): 28,
        ("apps", "my app", "app"): 29,
        ("apps", "my app", "log_config"): 30,
        ("apps", "my app", "log_config", "formatters", "plain", "format"): 31,
        ("apps", "chat", "bind", 1, 0): 35,
        ("extra", 0, "k"): 38,
        ("extra", 1, "k"): 40,
        ("extra", 1, "after"): 42,
    }
    assert {path: lines.line(path) for path in expected} == expected


def test_keys_inside_strings_are_not_keys() -> None:
    lines = index_keys(DOCUMENT)
    assert lines.line(("apps", "fake")) == 8  # falls back to [apps.api]'s "apps"
    assert lines.line(("not",)) is None


def test_a_missing_key_points_at_its_nearest_written_parent() -> None:
    lines = index_keys(DOCUMENT)
    assert lines.line(("apps", "api", "workers")) == 8
    assert lines.line(("apps", "api", "bind", 7)) == 10
    assert lines.line(("nowhere", "at", "all")) is None
    assert lines.line(()) is None


def test_crlf_and_empty_documents() -> None:
    lines = index_keys('[apps.a]\r\napp = "m:a"\r\nworkers = 3\r\n')
    assert lines.line(("apps", "a", "workers")) == 3
    assert index_keys("").line(("apps",)) is None


def test_the_scanner_ends_on_text_tomllib_would_reject() -> None:
    broken_texts = ['a = "unterminated\nb = 1', 'a = "abc', "[apps", "= = =", "]", "a = [}]", "a = {]}", "a = [1, 2"]
    broken_texts += ["a = {b = 1", 'a = """open', "x\\"]
    for broken in broken_texts:
        index_keys(broken)  # must return, whatever it finds
    assert index_keys('a = "open\nb = 1').line(("b",)) == 2


def test_format_path() -> None:
    assert format_path(("apps", "api", "bind", 1)) == "apps.api.bind[1]"
    assert format_path(("apps", "my app", "env", "A.B")) == 'apps."my app".env."A.B"'
    assert format_path(()) == ""
