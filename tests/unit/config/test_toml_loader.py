from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from supervisor.config.convert import FdBind, TcpBind, UnixBind
from supervisor.config.loader import load_file, load_text
from supervisor.config.schema import AppConfig
from supervisor.errors import ConfigError

SPEC_EXAMPLE = """\
[server]                        # the master itself
control_socket = "serve.sock"
pid_file = ""
log_level = "info"
graceful_timeout = 30
healthcheck_timeout = 30
startup_timeout = 60
tui = "auto"
metrics_bind = ""
health_bind = ""
watch_config = false

[defaults]
workers = 2
max_requests = 0
max_requests_jitter = 0

[apps.api]
app = "examples.api:app"
bind = ["127.0.0.1:8000", "[::1]:8000", "unix:/tmp/api.sock", "fd://3"]
workers = 4
env = { DATABASE_URL = "sqlite:///db.sqlite" }

[apps.chat]
app = "examples.chat:app"
bind = ["127.0.0.1:8001"]
"""


def problems_of(text: str, path: str = "serve.toml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(textwrap.dedent(text), path)
    return str(caught.value).splitlines()


def test_the_spec_example_loads() -> None:
    serve_file = load_text(SPEC_EXAMPLE, "/srv/site/serve.toml")
    assert serve_file.path == "/srv/site/serve.toml"
    assert serve_file.server.control_socket == "/srv/site/serve.sock"
    assert serve_file.server.pid_file is None
    assert serve_file.server.metrics_bind is None
    assert list(serve_file.apps) == ["api", "chat"]
    api, chat = serve_file.apps["api"], serve_file.apps["chat"]
    assert api.name == "api"
    assert api.app == "examples.api:app"
    assert api.bind == (TcpBind("127.0.0.1", 8000), TcpBind("::1", 8000), UnixBind("/tmp/api.sock"), FdBind(3))
    assert api.workers == 4
    assert chat.workers == 2
    assert dict(api.env) == {"DATABASE_URL": "sqlite:///db.sqlite"}
    assert api.graceful_timeout == 30.0
    assert chat.timeout_keep_alive == 5.0


def test_defaults_are_inherited_and_overridden() -> None:
    serve_file = load_text(
        textwrap.dedent(
            """\
            [server]
            graceful_timeout = 12.5
            [defaults]
            workers = 3
            log_level = "debug"
            max_memory = "512MiB"
            [apps.a]
            app = "m:a"
            bind = ["127.0.0.1:9001"]
            [apps.b]
            app = "m:b"
            bind = ["127.0.0.1:9002"]
            workers = 1
            """
        ),
        "serve.toml",
    )
    a, b = serve_file.apps["a"], serve_file.apps["b"]
    assert (a.workers, b.workers) == (3, 1)
    assert a.log_level == b.log_level == "debug"
    assert a.max_memory == 512 * 1024 * 1024
    assert a.graceful_timeout == b.graceful_timeout == 12.5


def test_server_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    serve_file = load_text(
        '[server]\ncontrol_socket = "run/ctl.sock"\npid_file = "serve.pid"\nmetrics_bind = "127.0.0.1:9100"\n'
        '[apps.a]\napp = "m:a"\n',
        str(tmp_path / "serve.toml"),
    )
    assert serve_file.server.control_socket == str(tmp_path / "run" / "ctl.sock")
    assert serve_file.server.pid_file == str(tmp_path / "serve.pid")
    assert serve_file.server.metrics_bind == TcpBind("127.0.0.1", 9100)


def test_a_relative_file_path_is_made_absolute() -> None:
    serve_file = load_text('[apps.a]\napp = "m:a"\n', "serve.toml")
    assert serve_file.path == os.path.join(os.getcwd(), "serve.toml")
    assert serve_file.server.control_socket == os.path.join(os.getcwd(), "serve.sock")


def test_every_problem_is_reported_at_once_with_its_line() -> None:
    problems = problems_of(
        """\
        [server]
        graceful_timeout = -1
        pid_fil = "serve.pid"

        [defaults]
        workers = "four"

        [apps.api]
        app = "examples.api:app"
        bind = [
            "127.0.0.1:8000",
            "127.0.0.1:99999",
        ]
        env = { DATABASE_URL = "sqlite://", PORT = 8000 }
        workerz = 4
        ws_ping_timeout = 0

        [apps.chat]
        bind = ["unix:/tmp/chat.sock"]
        loop = "trio"
        """
    )
    assert problems == [
        "serve.toml:2: server.graceful_timeout: expected a number of seconds, 0 or more, got -1",
        'serve.toml:3: server.pid_fil: unknown key; did you mean "pid_file"?',
        'serve.toml:6: defaults.workers: expected a positive integer, got "four"',
        'serve.toml:12: apps.api.bind[1]: expected a port from 0 to 65535 after the host, got "127.0.0.1:99999"',
        'serve.toml:14: apps.api.env.PORT: expected a string, got 8000 (environment values are text: write "8000")',
        'serve.toml:15: apps.api.workerz: unknown key; did you mean "workers"?',
        "serve.toml:16: apps.api.ws_ping_timeout: expected a positive number of seconds, or false to turn it off, got 0",
        'serve.toml:18: apps.chat: missing key "app": the "MODULE:ATTRIBUTE" to serve',
        'serve.toml:20: apps.chat.loop: expected one of "auto", "asyncio", "uvloop", got "trio"',
    ]


def test_a_bad_default_is_reported_once_not_per_app() -> None:
    problems = problems_of(
        """\
        [defaults]
        app = 3
        [apps.a]
        bind = ["127.0.0.1:8001"]
        [apps.b]
        bind = ["127.0.0.1:8002"]
        """
    )
    assert problems == ['serve.toml:2: defaults.app: expected an import string "MODULE:ATTRIBUTE", got 3']


def test_an_invalid_own_app_is_not_also_missing() -> None:
    assert problems_of('[apps.a]\napp = "nocolon"\n') == [
        'serve.toml:2: apps.a.app: expected an import string "MODULE:ATTRIBUTE", got "nocolon"'
    ]


def test_keys_from_uvicorn_or_the_wrong_table_get_a_pointer() -> None:
    problems = problems_of(
        """\
        [apps.a]
        app = "m:a"
        limit_max_requests = 100
        timeout_graceful_shutdown = 5
        graceful_timeout = 5
        port = 8000
        name = "other"
        """
    )
    assert problems == [
        'serve.toml:3: apps.a.limit_max_requests: unknown key; did you mean "max_requests"? (uvicorn calls it limit_max_requests)',
        "serve.toml:4: apps.a.timeout_graceful_shutdown: not an app key: set [server] graceful_timeout",
        "serve.toml:5: apps.a.graceful_timeout: not an app key: set [server] graceful_timeout",
        'serve.toml:6: apps.a.port: unknown key; did you mean "bind"? (bind = ["HOST:PORT", "unix:PATH", ...])',
        "serve.toml:7: apps.a.name: unknown key",
    ]


def test_sections_of_the_wrong_shape() -> None:
    assert problems_of('server = 1\ndefaults = "x"\napps = []\nservers = {}\n') == [
        "serve.toml:1: server: expected a table, as in [server]",
        "serve.toml:2: defaults: expected a table, as in [defaults]",
        "serve.toml:3: apps: expected a table of apps, one [apps.NAME] table each",
        'serve.toml:4: servers: unknown key; did you mean "server"?',
    ]
    assert problems_of("[apps]\napi = 3\n") == ["serve.toml:2: apps.api: expected a table, as in [apps.api]"]


def test_a_file_without_apps() -> None:
    assert problems_of("[server]\n") == ['serve.toml: no apps: add an [apps.NAME] table with app = "MODULE:ATTRIBUTE"']


def test_app_names_must_label_well() -> None:
    assert problems_of('[apps."my app"]\napp = "m:a"\n') == [
        'serve.toml:1: apps."my app": an app name may hold only letters, digits, "-" and "_" (it labels logs and metrics)'
    ]


def test_the_masters_log_name_is_no_app_name() -> None:
    assert problems_of('[apps.master]\napp = "m:a"\n') == [
        'serve.toml:1: apps.master: "master" names the master\'s own lines (serve logs): choose another name'
    ]


def test_two_apps_on_one_address() -> None:
    problems = problems_of(
        """\
        [apps.api]
        app = "m:api"
        bind = ["0.0.0.0:8000", "unix:/tmp/s.sock"]
        [apps.chat]
        app = "m:chat"
        bind = ["127.0.0.1:8000", "fd://3", "unix:/tmp/s.sock"]
        [apps.admin]
        app = "m:admin"
        bind = ["fd://3", "fd://3", "127.0.0.1:0", "127.0.0.1:0"]
        """
    )
    assert problems == [
        "serve.toml:6: apps.chat.bind[0]: 127.0.0.1:8000 overlaps 0.0.0.0:8000, which is already bound by apps.api",
        "serve.toml:6: apps.chat.bind[2]: unix:/tmp/s.sock is already bound by apps.api",
        "serve.toml:9: apps.admin.bind[0]: fd://3 is already bound by apps.chat",
        "serve.toml:9: apps.admin.bind[1]: fd://3 is already bound by apps.chat",
    ]


def test_an_address_twice_in_one_app() -> None:
    assert problems_of('[apps.a]\napp = "m:a"\nbind = ["127.0.0.1:80", "127.0.0.1:80"]\n') == [
        "serve.toml:3: apps.a.bind[1]: 127.0.0.1:80 is already bound by bind[0] of this app"
    ]


def test_apps_left_on_the_default_address_clash() -> None:
    assert problems_of('[apps.a]\napp = "m:a"\n[apps.b]\napp = "m:b"\n') == [
        "serve.toml:3: apps.b.bind[0]: 127.0.0.1:8000 is already bound by apps.a"
        " (the default bind: give each app its own bind)"
    ]


def test_binds_are_checked_even_when_an_app_has_other_problems() -> None:
    problems = problems_of(
        """\
        [apps.a]
        app = "m:a"
        workers = 0
        [apps.b]
        app = "m:b"
        bind = ["127.0.0.1:8000"]
        """
    )
    assert problems == [
        "serve.toml:3: apps.a.workers: expected a positive integer, got 0",
        "serve.toml:6: apps.b.bind[0]: 127.0.0.1:8000 is already bound by apps.a",
    ]


def test_an_invalid_bind_is_not_also_a_clash() -> None:
    assert problems_of('[apps.a]\napp = "m:a"\nbind = "127.0.0.1:1"\n[apps.b]\napp = "m:b"\n') == [
        'serve.toml:3: apps.a.bind: expected a list of addresses such as ["127.0.0.1:8000", "unix:/run/app.sock"],'
        ' got "127.0.0.1:1"'
    ]


def test_a_key_file_needs_its_certificate() -> None:
    assert problems_of('[apps.a]\napp = "m:a"\nssl_keyfile = "key.pem"\n') == [
        "serve.toml:1: apps.a.ssl_certfile: required when ssl_keyfile is set (the certificate to go with the key)"
    ]
    both = load_text('[apps.a]\napp = "m:a"\nssl_keyfile = "k.pem"\nssl_certfile = "c.pem"\n', "serve.toml")
    assert both.apps["a"].ssl_certfile == os.path.join(os.path.dirname(os.path.abspath("serve.toml")), "c.pem")


def test_relative_paths_of_an_app_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("A=1\n")
    (tmp_path / "src").mkdir()
    text = '[apps.a]\napp = "m:a"\napp_dir = "src"\nenv_file = "app.env"\nreload_dirs = ["src"]\nlog_file = "a.log"\n'
    app = load_text(text, str(tmp_path / "serve.toml")).apps["a"]
    assert (app.app_dir, app.env_file, app.log_file) == (
        str(tmp_path / "src"),
        str(tmp_path / "app.env"),
        str(tmp_path / "a.log"),
    )
    assert app.reload_dirs == (str(tmp_path / "src"),)


def test_a_missing_env_file_or_reload_dir_is_reported_with_its_line(tmp_path: Path) -> None:
    text = '[apps.a]\napp = "m:a"\nenv_file = "nope.env"\nreload_dirs = ["gone"]\n'
    with pytest.raises(ConfigError) as raised:
        load_text(text, str(tmp_path / "serve.toml"))
    assert [str(problem) for problem in raised.value.problems] == [
        f"{tmp_path / 'serve.toml'}:3: apps.a.env_file: no such file: {tmp_path / 'nope.env'}",
        f"{tmp_path / 'serve.toml'}:4: apps.a.reload_dirs[0]: no such directory: {tmp_path / 'gone'}",
    ]
    (tmp_path / "dir.env").mkdir()
    assert problems_of('[apps.a]\napp = "m:a"\nenv_file = "dir.env"\n', str(tmp_path / "serve.toml")) == [
        f"{tmp_path / 'serve.toml'}:3: apps.a.env_file: a directory, not a file: {tmp_path / 'dir.env'}"
    ]


def test_syntax_errors_carry_tomllibs_line() -> None:
    assert problems_of('[apps.a]\napp = "m:a"\nworkers = = 2\n') == [
        "serve.toml:3: invalid TOML: Invalid value (column 11)"
    ]
    assert problems_of('[apps.a]\napp = "m:a"\nworkers =') == [
        "serve.toml:3: invalid TOML: Invalid value (at the end of the file)"
    ]


def test_every_app_setting_can_be_written_in_toml(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / "src").mkdir()
    serve_file = load_text(
        textwrap.dedent(
            """\
            [apps.full]
            app = "pkg.main:create_app"
            factory = true
            interface = "asgi3"
            app_dir = "src"
            env = { A = "1" }
            env_file = ".env"
            bind = ["unix:/run/full.sock"]
            uds_mode = 0o660
            backlog = 128
            workers = 8
            preload = true
            loop = "uvloop"
            http = "h11"
            ws = "none"
            ws_max_size = "1MiB"
            ws_max_queue = 8
            ws_ping_interval = false
            ws_ping_timeout = 5
            ws_per_message_deflate = false
            lifespan = "on"
            log_level = "TRACE"
            access_log = false
            log_config = { version = 1 }
            use_colors = true
            proxy_headers = false
            forwarded_allow_ips = ["10.0.0.0/8", "*"]
            server_header = false
            date_header = false
            headers = ["X-Frame-Options: DENY"]
            root_path = "/api"
            limit_concurrency = 100
            max_requests = 1000
            max_requests_jitter = 50
            max_memory = "1G"
            timeout_keep_alive = 2
            timeout_request_header = 3.5
            h11_max_incomplete_event_size = 32768
            max_request_header_size = "16KiB"
            ssl_keyfile = "k.pem"
            ssl_certfile = "c.pem"
            ssl_keyfile_password = "secret"
            ssl_version = 2
            ssl_cert_reqs = 2
            ssl_ca_certs = "ca.pem"
            ssl_ciphers = "ECDHE+AESGCM"
            user = "www-data"
            group = "www-data"
            reload = true
            reload_dirs = ["src"]
            reload_includes = ["*.toml"]
            reload_excludes = ["*.tmp"]
            reload_delay = 1
            log_file = "full.log"
            """
        ),
        str(tmp_path / "serve.toml"),
    )
    full = serve_file.apps["full"]
    assert isinstance(full, AppConfig)
    assert full.uds_mode == 0o660
    assert full.ws_max_size == 1 << 20
    assert full.ws_ping_interval is None
    assert full.ws_ping_timeout == 5.0
    assert full.log_level == "trace"
    assert full.log_config == {"version": 1}
    assert full.forwarded_allow_ips == ("10.0.0.0/8", "*")
    assert full.headers == (("X-Frame-Options", "DENY"),)
    assert full.max_memory == 1 << 30
    assert full.max_request_header_size == 16384
    assert full.reload_dirs == (str(tmp_path / "src"),)
    assert full.log_file == str(tmp_path / "full.log")


def test_load_file_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")
    assert load_file(path).apps["api"].workers == 4


def test_load_file_problems_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('[apps.a]\napp = "m:a"\nworkers = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_file(str(path))
    assert str(caught.value) == f"{path}:3: apps.a.workers: expected a positive integer, got 0"


def test_load_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read the file: No such file or directory"):
        load_file(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"a = '\xff'\n")
    with pytest.raises(ConfigError, match=r"binary\.toml: not UTF-8 text \(invalid start byte at byte 5\)"):
        load_file(binary)
