"""What the dashboard's viewer chose to look at: the selected app, kept valid as apps come and go.

May import: the standard library only. Pure data: the keys change a `ViewState`, the renderer reads it.

The selection is remembered by name as well as by position, so that when a reload adds or
removes an app above the selected one, the highlight stays on the same app rather than on
whatever slid into its row; only when the selected app itself disappears does the position
decide, clamped to the apps that are left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ViewState:
    """The selected app: its row (`index`) and its name when it was selected (`app`)."""

    index: int = 0
    app: str | None = None

    def follow(self, apps: Sequence[str]) -> ViewState:
        """The same selection over a new list of app names (in the order the dashboard shows them).

        Args:
            apps: the app names of the latest snapshot.

        Returns:
            A view on the same app if it is still there, else on the app now at the same row
            (the last one if the list got shorter); index 0 and no app when there are none.
        """
        if not apps:
            return ViewState()
        if self.app in apps:
            return ViewState(apps.index(self.app), self.app)
        index = min(max(self.index, 0), len(apps) - 1)
        return ViewState(index, apps[index])

    def move(self, step: int, apps: Sequence[str]) -> ViewState:
        """The selection `step` rows down (up when negative), stopping at the first and last app."""
        current = self.follow(apps)
        if not apps:
            return current
        index = min(max(current.index + step, 0), len(apps) - 1)
        return ViewState(index, apps[index])

    def selected(self, apps: Sequence[str]) -> str | None:
        """The name of the selected app among `apps`, or None when there is no app."""
        return self.follow(apps).app
