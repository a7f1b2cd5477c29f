"""The reload planner: what changes between the running configuration and a freshly read one.

Pure: two `ServeFile`s in, a `ReloadPlan` out; the arbiter carries it out (SPEC §3, Reload).

Apps are matched by name. An app whose `AppConfig` differs in any setting is `changed`; one
that compares equal is `unchanged`. A reload rolls every kept app (`changed` and `unchanged`
alike) to a new generation, because its code may have changed on disk even when its settings
did not; `changed` alone is what a settings-only reload would need to restart.

Binds are matched by address across the whole file, not per app: an address used by any app
of the new file keeps its open socket, even when it moved from one app to another, because
closing and re-binding it would refuse connections in between (SPEC §3: a socket whose bind
did not change is never closed). While the old app drains, its workers and the new app's
workers accept on that one socket side by side, which is the same overlap a reload of a single
app has. Handing an address from one running app to another in a single reload is refused
(`handed_over` says why); an app added by the reload may take one. A kept socket keeps the
backlog and unix mode it was opened with. `TcpBind(host, 0)`
compares equal to itself, so an "any free port" bind keeps the port it was given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from supervisor.config.convert import Bind
from supervisor.config.schema import ServeFile


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a reload from one configuration to another must start, stop, open and close.

    App names are in the order of the file that holds them (removed: the old one; the others:
    the new one); binds in order of first use. An app is in exactly one of added, removed,
    changed and unchanged; a bind in exactly one of open, kept and closed.
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    open_binds: tuple[Bind, ...]  # new addresses: bind before starting the apps that use them
    kept_binds: tuple[Bind, ...]  # open sockets carried over untouched
    closed_binds: tuple[Bind, ...]  # close once the last worker accepting on them has exited
    server_changes: tuple[str, ...]  # names of the [server] settings that differ

    @property
    def kept(self) -> tuple[str, ...]:
        """Apps in both files, changed or not: the ones a reload rolls to a new generation."""
        return self.changed + self.unchanged

    @property
    def is_empty(self) -> bool:
        """True when the two files describe the same apps, binds and server settings."""
        return not (
            self.added or self.removed or self.changed or self.open_binds or self.closed_binds or self.server_changes
        )


def binds_of(serve_file: ServeFile) -> tuple[Bind, ...]:
    """Every address the file's apps listen on, without repeats, in order of first use."""
    return _unique(bind for app in serve_file.apps.values() for bind in app.bind)


def handed_over(old: ServeFile, new: ServeFile) -> tuple[tuple[Bind, tuple[str, ...], str], ...]:
    """The addresses a reload would take from every app that binds them and give to an app that
    runs on: (address, the apps giving it up, the app taking it), in order of first use.

    Refused, because the two halves can part: if the taker's new generation cannot start, its
    old generation serves on without the address while the givers moved on, and nobody serves
    it. Taking it while a giver still binds it (shared for one reload), then removing it from
    the giver, never leaves it unserved. An added app may take an address: it has no old
    generation to fall back to, and until it starts, it is a failing app like any other.
    """
    moves: list[tuple[Bind, tuple[str, ...], str]] = []
    for bind in binds_of(new):
        givers = tuple(name for name, app in old.apps.items() if bind in app.bind)
        takers = [name for name, app in new.apps.items() if bind in app.bind]
        if givers and not set(givers).intersection(takers):
            moves.extend((bind, givers, name) for name in takers if name in old.apps)
    return tuple(moves)


def still_closing(closing: Iterable[Bind], plan: ReloadPlan) -> frozenset[Bind]:
    """The sockets to close once unused, after `plan` is carried out: those earlier reloads
    dropped and this one's closed binds, less any address the new file uses (again)."""
    return frozenset(closing).union(plan.closed_binds).difference(plan.open_binds, plan.kept_binds)


def closable(closing: Iterable[Bind], live: Iterable[Iterable[Bind]], inherited: Iterable[Bind]) -> tuple[Bind, ...]:
    """Of the sockets reloads dropped, those to close now: no live worker's generation binds them
    (an app removed or moved on still drains on its own), and systemd did not pass them (not ours
    to close: the master could not bind them again)."""
    needed = set(inherited)
    for binds in live:
        needed.update(binds)
    return tuple(bind for bind in closing if bind not in needed)


def scoped(running: ServeFile, new: ServeFile, app: str | None) -> ServeFile:
    """What a reload takes from the file just read: all of it; or, for `serve reload APP`, APP's
    table alone (changed, or gone: APP stops), the other apps and [server] as they run, until a
    reload of the whole file."""
    if app is None:
        return new
    apps = {name: new.apps.get(name, config) if name == app else config for name, config in running.apps.items()}
    if app not in new.apps:
        apps.pop(app, None)
    return dataclasses.replace(running, apps=apps)


def plan_reload(old: ServeFile, new: ServeFile) -> ReloadPlan:
    """Compare the running configuration with the new one.

    Args:
        old: the configuration the master runs now.
        new: the configuration just read and validated.
    """
    old_binds, new_binds = binds_of(old), binds_of(new)
    return ReloadPlan(
        added=tuple(name for name in new.apps if name not in old.apps),
        removed=tuple(name for name in old.apps if name not in new.apps),
        changed=tuple(name for name, app in new.apps.items() if name in old.apps and old.apps[name] != app),
        unchanged=tuple(name for name, app in new.apps.items() if name in old.apps and old.apps[name] == app),
        open_binds=tuple(bind for bind in new_binds if bind not in old_binds),
        kept_binds=tuple(bind for bind in new_binds if bind in old_binds),
        closed_binds=tuple(bind for bind in old_binds if bind not in new_binds),
        server_changes=tuple(
            item.name
            for item in dataclasses.fields(new.server)
            if getattr(old.server, item.name) != getattr(new.server, item.name)
        ),
    )


def _unique(binds: Iterable[Bind]) -> tuple[Bind, ...]:
    return tuple(dict.fromkeys(binds))
