"""master/watcher.py: which changed paths make a reload (the filter runs in the watcher child, so is tested here)."""

from __future__ import annotations

import pytest

from supervisor.master.watcher import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, default_dirs, relevant

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


@pytest.mark.parametrize(
    ("path", "includes", "excludes", "expected"),
    [
        # A pattern with a "/" is matched against the path below the root, from the right (uvicorn's Path.match).
        ("/srv/app/sub/c.txt", ["sub/*.txt"], [], True),
        ("/srv/app/deep/sub/c.txt", ["sub/*.txt"], [], True),
        ("/srv/app/other/c.txt", ["sub/*.txt"], [], False),
        ("/srv/app/sub/d.py", [], ["sub/*"], False),
        ("/srv/app/sub/more/d.py", [], ["sub/*"], False),  # sub/more is excluded, so all it holds
        ("/srv/app/subway/d.py", [], ["sub/*"], True),
        ("/srv/app/d.py", [], ["sub/*"], True),
        ("/srv/app/sub/d.py", [], ["sub/"], False),  # a directory written with its slash
        # Only the part below the root counts: the root's own directories are not held against it.
        ("/srv/app/main.py", [], ["srv/*"], True),
        # An absolute pattern is matched against the whole path.
        ("/srv/app/sub/c.txt", ["/srv/app/sub/*.txt"], [], True),
        ("/srv/app/sub/d.py", [], ["/srv/app/sub/*"], False),
        ("/srv/app/d.py", [], ["/srv/app/sub/*"], True),
    ],
)
def test_patterns_with_a_slash_match_the_path_below_the_root(
    path: str, includes: list[str], excludes: list[str], expected: bool
) -> None:
    assert relevant(path, ROOTS, [*DEFAULT_INCLUDES, *includes], [*DEFAULT_EXCLUDES, *excludes]) is expected


@pytest.mark.parametrize(
    ("app_dir", "with_cwd", "expected"),
    [
        ("", True, ("/work/proj",)),
        ("", False, ("/work/proj",)),
        # serve run, as uvicorn: the working directory, which holds --app-dir src.
        ("src", True, ("/work/proj",)),
        ("/work/proj/src", True, ("/work/proj",)),
        ("../lib", True, ("/work/proj", "/work/lib")),
        ("/opt/lib", True, ("/work/proj", "/opt/lib")),  # the app's code lies elsewhere: watched too
        # serve up: where the file's app_dir says the code is (the master may run from /).
        ("/srv/app", False, ("/srv/app",)),
    ],
)
def test_what_an_app_without_reload_dirs_watches(app_dir: str, with_cwd: bool, expected: tuple[str, ...]) -> None:
    assert default_dirs(app_dir, "/work/proj", with_cwd=with_cwd) == expected
