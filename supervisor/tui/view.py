"""What the dashboard's viewer chose to look at: the selected row, the log pane's filter, a pending question.

Pure data: the keys change a `ViewState`, the renderer reads it.

The cursor is on an app's row or on one of its workers' rows. It is remembered by name and
pid as well as by position, so that when a reload adds or removes an app above the selected
one, the highlight stays on the same app rather than on whatever slid into its row; only
when the selected app (or worker) itself disappears does the position decide, clamped to
what is left. A worker that goes (restarted, retired) hands the cursor to the worker now in
its place under the same app, or to the app's row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from supervisor.control import Command
from supervisor.status.snapshot import Snapshot
from supervisor.tui.loglines import Level, Scope

# Each app's name and its workers' pids, in the order the dashboard shows them.
Tree: TypeAlias = Sequence[tuple[str, Sequence[int]]]


def tree_of(snapshot: Snapshot) -> Tree:
    """The rows the cursor moves over in `snapshot`: every app and its workers."""
    return [(app.name, [worker.pid for worker in app.workers]) for app in snapshot.apps]


@dataclass(frozen=True, slots=True)
class Question:
    """A command that waits for the viewer's y, and what to ask."""

    text: str
    command: Command


@dataclass(frozen=True, slots=True)
class ViewState:
    """The selection, the log pane's settings, and what the bottom line says."""

    index: int = 0  # the selected app's position
    app: str | None = None  # its name, when it was selected
    worker: int | None = None  # the selected worker's pid; None: the app's own row
    worker_index: int = 0  # its position among its app's workers
    help: bool = False  # the key list is shown
    question: Question | None = None  # asked on the bottom line; y carries it out, any other key drops it
    notice: str | None = None  # a word on the bottom line until the next key
    log_level: Level = Level.UNKNOWN  # lines of this level and above
    log_every_app: bool = False  # every app's lines, not only the selected app's
    paused: bool = False  # the log pane holds still (the screen keeps the lines it had)
    scroll: int = 0  # log lines up from the newest

    def follow(self, tree: Tree) -> ViewState:
        """The same selection over a new list of apps and workers.

        Returns:
            A view on the same app (and worker) if it is still there, else on the app now at
            the same position (the last one if the list got shorter), and on the worker now
            at the same position under it; no app when there are none.
        """
        if not tree:
            return dataclasses.replace(self, index=0, app=None, worker=None, worker_index=0)
        names = [name for name, _ in tree]
        same_app = self.app is not None and self.app in names
        index = names.index(self.app) if self.app is not None and same_app else min(max(self.index, 0), len(tree) - 1)
        pids = list(tree[index][1])
        worker, position = None, 0
        if same_app and self.worker is not None and pids:
            position = pids.index(self.worker) if self.worker in pids else min(self.worker_index, len(pids) - 1)
            worker = pids[position]
        return dataclasses.replace(self, index=index, app=names[index], worker=worker, worker_index=position)

    def move(self, step: int, tree: Tree) -> ViewState:
        """The cursor `step` rows down (up when negative) over apps and workers, stopping at the ends."""
        current = self.follow(tree)
        rows = [(i, pid) for i, (_, pids) in enumerate(tree) for pid in (None, *pids)]
        if not rows:
            return current
        position = rows.index((current.index, current.worker))
        index, pid = rows[min(max(position + step, 0), len(rows) - 1)]
        return dataclasses.replace(current, index=index, app=tree[index][0], worker=pid, worker_index=0).follow(tree)

    def jump(self, step: int, tree: Tree) -> ViewState:
        """The cursor on the row of the app `step` apps down (up when negative), stopping at the ends."""
        current = self.follow(tree)
        if not tree:
            return current
        index = min(max(current.index + step, 0), len(tree) - 1)
        return dataclasses.replace(current, index=index, app=tree[index][0], worker=None, worker_index=0)

    def selected(self, tree: Tree) -> str | None:
        """The name of the selected app (the app of the selected worker), or None when there is no app."""
        return self.follow(tree).app

    def log_scope(self) -> Scope:
        """The lines the log pane shows: the selected app's (or worker's), or every app's, from the level chosen."""
        if self.log_every_app:
            return Scope(level=self.log_level)
        return Scope(app=self.app, pid=self.worker, level=self.log_level)

    def selected_worker(self, tree: Tree) -> int | None:
        """The pid of the selected worker, or None when the cursor is on an app's row."""
        return self.follow(tree).worker
