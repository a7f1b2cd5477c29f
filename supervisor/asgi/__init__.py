"""App-facing adapters: load the app, adapt its interface, apply trusted proxy headers."""

from __future__ import annotations

from supervisor.asgi.loader import load_app
from supervisor.asgi.proxy_headers import TrustedHosts, apply_proxy_headers

__all__ = ["TrustedHosts", "apply_proxy_headers", "load_app"]
