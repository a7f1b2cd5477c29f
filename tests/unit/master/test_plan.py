"""master/plan.py: what a reload adds, removes, restarts, and which sockets it opens, keeps and closes."""

from __future__ import annotations

from supervisor.config.convert import Bind, FdBind, TcpBind, UnixBind
from supervisor.config.schema import AppConfig, ServeFile, ServerSection
from supervisor.master.plan import binds_of, closable, handed_over, plan_reload, scoped, still_closing


def app(name: str, *binds: Bind, workers: int = 1) -> AppConfig:
    return AppConfig(name=name, app=f"examples.{name}:app", bind=binds, workers=workers)


def serve_file(*apps: AppConfig, server: ServerSection | None = None) -> ServeFile:
    return ServeFile("/srv/serve.toml", server or ServerSection(), {a.name: a for a in apps})


API = TcpBind("127.0.0.1", 8000)
API6 = TcpBind("::1", 8000)
CHAT = TcpBind("127.0.0.1", 8001)
SOCK = UnixBind("/run/admin.sock")
INHERITED = FdBind(3)


def test_the_same_file_plans_nothing_but_a_new_generation_for_every_app() -> None:
    old = serve_file(app("api", API, API6), app("chat", CHAT))
    plan = plan_reload(old, serve_file(app("api", API, API6), app("chat", CHAT)))
    assert plan.is_empty
    assert plan.unchanged == ("api", "chat")
    assert plan.kept == ("api", "chat")
    assert plan.kept_binds == (API, API6, CHAT)
    assert plan.added == plan.removed == plan.changed == ()
    assert plan.open_binds == plan.closed_binds == ()
    assert plan.server_changes == ()


def test_apps_added_removed_and_changed_in_file_order() -> None:
    old = serve_file(app("api", API), app("chat", CHAT), app("admin", SOCK))
    new = serve_file(app("jobs", INHERITED), app("chat", CHAT, workers=4), app("api", API))
    plan = plan_reload(old, new)
    assert plan.added == ("jobs",)
    assert plan.removed == ("admin",)
    assert plan.changed == ("chat",)
    assert plan.unchanged == ("api",)
    assert plan.kept == ("chat", "api")
    assert plan.open_binds == (INHERITED,)
    assert plan.kept_binds == (CHAT, API)
    assert plan.closed_binds == (SOCK,)
    assert not plan.is_empty


def test_an_address_moving_to_another_app_keeps_its_socket() -> None:
    old = serve_file(app("api", API, CHAT))
    new = serve_file(app("api", API), app("chat", CHAT))
    plan = plan_reload(old, new)
    assert plan.added == ("chat",)
    assert plan.changed == ("api",)
    assert plan.kept_binds == (API, CHAT)
    assert plan.open_binds == plan.closed_binds == ()


def test_a_changed_bind_opens_the_new_address_and_closes_the_old() -> None:
    plan = plan_reload(serve_file(app("api", API)), serve_file(app("api", API6)))
    assert plan.changed == ("api",)
    assert plan.open_binds == (API6,)
    assert plan.closed_binds == (API,)
    assert plan.kept_binds == ()


def test_server_settings_that_differ_are_named() -> None:
    old = serve_file(app("api", API))
    new = serve_file(app("api", API), server=ServerSection(graceful_timeout=5.0, tui="off"))
    plan = plan_reload(old, new)
    assert plan.server_changes == ("graceful_timeout", "tui")
    assert plan.unchanged == ("api",)
    assert not plan.is_empty


def test_binds_of_lists_each_address_once_in_order_of_first_use() -> None:
    assert binds_of(serve_file(app("api", API, SOCK), app("chat", CHAT, API))) == (API, SOCK, CHAT)


def test_dropped_sockets_wait_for_their_last_worker_and_a_reload_can_take_them_back() -> None:
    first = plan_reload(serve_file(app("api", API), app("chat", CHAT)), serve_file(app("api", API6)))
    assert (first.open_binds, first.kept_binds, first.closed_binds) == ((API6,), (), (API, CHAT))
    closing = still_closing((), first)
    assert closing == {API, CHAT}
    # chat's old workers still accept on CHAT; API is free; an inherited socket is never ours to close.
    assert closable(closing | {INHERITED}, [(CHAT,), (API6,)], [INHERITED]) == (API,)
    assert set(closable(closing, [], [])) == {API, CHAT}
    # A later reload names CHAT again (and drops API6) before chat's old workers are gone: CHAT stays open.
    second = plan_reload(serve_file(app("api", API6)), serve_file(app("chat", CHAT)))
    assert still_closing(closing, second) == {API, API6}
    # Kept by the next file: no longer waiting to close.
    assert still_closing({API}, plan_reload(serve_file(app("api", API)), serve_file(app("api", API)))) == set()


def test_a_reload_of_one_app_takes_only_that_apps_table_from_the_file() -> None:
    running = serve_file(app("api", API), app("chat", CHAT))
    new = serve_file(app("api", API, workers=3), app("jobs", SOCK), server=ServerSection(graceful_timeout=5.0))
    assert scoped(running, new, None) is new
    only_api = scoped(running, new, "api")
    assert only_api.apps == {"api": new.apps["api"], "chat": running.apps["chat"]}
    assert only_api.server == running.server
    plan = plan_reload(running, only_api)
    assert (plan.added, plan.removed, plan.changed, plan.server_changes) == ((), (), ("api",), ())
    # chat is gone from the file: `serve reload chat` stops it, and nothing else changes.
    plan = plan_reload(running, scoped(running, new, "chat"))
    assert (plan.added, plan.removed, plan.changed, plan.closed_binds) == ((), ("chat",), (), (CHAT,))


def test_an_address_handed_from_one_running_app_to_another_is_named() -> None:
    old = serve_file(app("api", API), app("chat", CHAT))
    new = serve_file(app("api", API, CHAT), app("chat", SOCK))
    assert handed_over(old, new) == ((CHAT, ("chat",), "api"),)


def test_an_address_from_a_removed_app_to_a_running_one_is_handed_over() -> None:
    old = serve_file(app("api", API), app("chat", CHAT))
    assert handed_over(old, serve_file(app("api", API, CHAT))) == ((CHAT, ("chat",), "api"),)


def test_sharing_an_address_a_new_one_or_one_given_to_an_added_app_is_no_handover() -> None:
    old = serve_file(app("api", API), app("chat", CHAT))
    assert handed_over(old, serve_file(app("api", API, CHAT), app("chat", CHAT))) == ()  # shared first
    assert handed_over(old, serve_file(app("api", API, SOCK), app("chat", CHAT))) == ()  # new address
    assert handed_over(old, serve_file(app("api", API), app("jobs", CHAT))) == ()  # to an added app
