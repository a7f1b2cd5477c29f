"""Every request of tests/data/http/ fed to each front: refused with the status its name gives.

The integration tests send the same files to a real server; this shows the refusal comes
from supervisor/protocol/ alone, whatever way the bytes are cut.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from protocol_recorder import MakeFront

from supervisor.errors import ParseError

CORPUS = sorted((Path(__file__).resolve().parents[2] / "data" / "http").glob("*.http"))
HEAD_LIMIT = 4096


def load_case(path: Path) -> tuple[int, bytes]:
    """(expected status, request bytes) of one corpus file (format: tests/data/http/README.md)."""
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    return int(path.name.split("-", 1)[0]), "".join(lines).encode("latin-1").decode("unicode_escape").encode("latin-1")


def feed_in_pieces(make_front: MakeFront, data: bytes, size: int) -> tuple[ParseError | None, int]:
    """Feed `data` in `size`-byte pieces; the refusal, if any, and how many requests completed."""
    front, recorder = make_front(max_head_size=HEAD_LIMIT)
    try:
        for start in range(0, len(data), size):
            front.feed(data[start : start + size])
    except ParseError as error:
        return error, sum(r.complete for r in recorder.requests)
    return None, sum(r.complete for r in recorder.requests)


@pytest.mark.parametrize("size", [1 << 20, 7, 1], ids=["whole", "7-byte-pieces", "bytewise"])
@pytest.mark.parametrize("case", CORPUS, ids=lambda path: path.stem)
def test_refused_with_its_status(make_front: MakeFront, case: Path, size: int) -> None:
    status, data = load_case(case)
    error, completed = feed_in_pieces(make_front, data, size)
    assert error is not None, "accepted"
    assert (error.status, completed) == (status, 0), error.reason


def test_corpus_is_there() -> None:
    assert len(CORPUS) >= 40
    assert {load_case(path)[0] for path in CORPUS} == {400, 431, 501, 505}
