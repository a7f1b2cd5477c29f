"""Why an app could not start, told by its worker: the line it writes (asgi/loader.py) and the slot field
that carries it to the master (status/slots.py); and how many workers the slot table holds."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from supervisor.asgi.loader import failure_line, load_app
from supervisor.errors import AppLoadError, LifespanStartupError
from supervisor.status.slots import (
    REASON_BYTES,
    SlotTable,
    SlotWriter,
    decode_reason,
    encode_reason,
    workers_that_fit,
)


def _load_error(target: str, app_dir: Path) -> AppLoadError:
    with pytest.raises(AppLoadError) as info:
        load_app(target, app_dir=str(app_dir))
    return info.value


def test_a_syntax_error_names_the_full_path_and_line(tmp_path: Path) -> None:
    name = f"serve_reason_syntax_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("x = 1\n\ndef app(:\n    pass\n")
    line = failure_line(_load_error(f"{name}:app", tmp_path))
    assert line == f"SyntaxError: invalid syntax ({tmp_path / name}.py, line 3)"


def test_a_missing_module_is_told_in_pythons_words_without_serves_own_frames(tmp_path: Path) -> None:
    name = f"serve_reason_missing_{uuid.uuid4().hex}"
    assert failure_line(_load_error(f"{name}:app", tmp_path)) == f"ModuleNotFoundError: No module named '{name}'"


def test_an_error_raised_by_the_apps_code_names_where(tmp_path: Path) -> None:
    name = f"serve_reason_raises_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("import os\n\nraise RuntimeError('no database')\n")
    line = failure_line(_load_error(f"{name}:app", tmp_path))
    assert line == f"RuntimeError: no database ({tmp_path / name}.py:3)"


def test_serves_own_refusals_and_lifespan_failures_keep_serves_words() -> None:
    assert failure_line(AppLoadError('"x" is not callable (got int)')) == '"x" is not callable (got int)'
    assert failure_line(LifespanStartupError("lifespan startup failed: db down")) == (
        "lifespan startup failed: db down"
    )
    lifespan = LifespanStartupError("the app raised during lifespan startup")
    lifespan.__cause__ = KeyError("dsn")
    assert failure_line(lifespan) == "KeyError: 'dsn'"  # never raised itself: no traceback, no place
    compiled = AppLoadError("error while importing")
    compiled.__cause__ = SyntaxError("bad input")
    assert failure_line(compiled) == "SyntaxError: bad input"  # compiled from a string: no file


def test_a_reason_round_trips_and_a_long_one_is_cut_at_a_character_boundary() -> None:
    assert decode_reason(encode_reason("")) == ""
    assert decode_reason(encode_reason("KeyError: 'dsn'")) == "KeyError: 'dsn'"
    long = "é" * REASON_BYTES
    stored = encode_reason(long)
    assert len(stored) <= REASON_BYTES
    text = decode_reason(stored)
    assert text.endswith("\u2026")
    assert set(text[:-1]) == {"é"}
    torn = b"\xff\xff" + b"a" * (REASON_BYTES - 2)  # a length past the room reads what fits
    assert decode_reason(torn) == "a" * (REASON_BYTES - 2)


def test_the_worker_writes_its_reason_and_a_new_worker_of_the_slot_starts_without_one() -> None:
    table = SlotTable(2)
    try:
        slot = table.allocate(generation=1, started_at=0.0)
        assert table.reason(slot) == ""
        SlotWriter(table, slot, pid=42).write_reason("ModuleNotFoundError: No module named 'chatt'")
        assert table.reason(slot) == "ModuleNotFoundError: No module named 'chatt'"
        assert table.reason(1 - slot) == ""  # its own field only
        table.release(slot)
        assert table.reason(slot) == ""
        with pytest.raises(IndexError):
            table.reason(2)
    finally:
        table.close()


def test_the_counts_a_table_holds_leave_room_for_replacements_and_a_reload() -> None:
    assert workers_that_fit(64, []) == 16
    assert workers_that_fit(64, [10, 2]) == 4
    assert workers_that_fit(64, [20]) == -4  # the others alone are over: nothing more fits
