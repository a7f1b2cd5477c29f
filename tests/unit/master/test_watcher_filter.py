"""master/watcher.py: which changed paths make a reload (the filter runs in the watcher child, so is tested here)."""

from __future__ import annotations

import pytest

from supervisor.master.watcher import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, relevant

ROOTS = ("/srv/app", "/etc/serve.toml")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/serve.toml", True),  # a watched file counts whatever its name
        ("/srv/app/main.py", True),
        ("/srv/app/pkg/views.py", True),
        ("/srv/app/notes.txt", False),  # not an include
        ("/srv/app/.hidden.py", False),  # a dot file
        ("/srv/app/.git/hooks/x.py", False),  # inside an excluded directory
        ("/srv/app/~backup/x.py", False),
        ("/elsewhere/.cache/x.py", False),  # outside every root: the whole path is checked
        ("/elsewhere/x.py", True),
    ],
)
def test_default_patterns(path: str, expected: bool) -> None:
    assert relevant(path, ROOTS, DEFAULT_INCLUDES, DEFAULT_EXCLUDES) is expected


def test_a_directory_above_the_root_is_not_held_against_it() -> None:
    # The root itself lives under a dot directory: only the parts below the root are matched against excludes.
    assert relevant("/home/me/.venvs/app/main.py", ["/home/me/.venvs/app"], DEFAULT_INCLUDES, DEFAULT_EXCLUDES)


def test_own_patterns_replace_the_defaults() -> None:
    assert relevant("/srv/app/templates/a.html", ROOTS, ["*.html"], ["templates"]) is False
    assert relevant("/srv/app/pages/a.html", ROOTS, ["*.html"], ["templates"]) is True
    assert relevant("/srv/app/main.py", ROOTS, ["*.html"], []) is False


def test_the_root_itself_changing_is_a_reload() -> None:
    assert relevant("/srv/app", ROOTS, DEFAULT_INCLUDES, DEFAULT_EXCLUDES) is True
