"""The body every framework app's /stream route sends: lines that each wait for the client to have read the last.

Chunk N+1 is produced only once the file GATE/N+1 exists, and the test creates that file
only after reading chunk N. A framework or server that buffered the whole body before
sending any of it would never let the client see chunk 0, so the stream would stall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path

CHUNKS = 4
GATE_TIMEOUT_S = 10.0


async def gated_chunks(gate: str) -> AsyncGenerator[bytes, None]:
    """`chunk 0\\n` ... `chunk 3\\n`, each after the client opened its gate; a line saying so if it never does."""
    for index in range(CHUNKS):
        if index and not await _opened(Path(gate) / str(index)):
            yield f"gate {index} never opened\n".encode()
            return
        yield f"chunk {index}\n".encode()


async def _opened(gate: Path) -> bool:
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while not gate.exists():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True
