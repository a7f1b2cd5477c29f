"""serve: an ASGI server and a process supervisor in one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Config", "Server", "__version__", "run"]

if TYPE_CHECKING:
    from supervisor.api import Config, Server, run


def __getattr__(name: str) -> Any:
    # Lazy, so `import supervisor` (the master, `serve check`) never pulls in the server stack.
    if name in ("Config", "Server", "run"):
        from supervisor import api

        return getattr(api, name)
    raise AttributeError(f"module 'supervisor' has no attribute {name!r}")
