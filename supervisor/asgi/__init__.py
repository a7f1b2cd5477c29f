"""App-facing adapters: load the app, adapt its interface, apply trusted proxy headers.

May import: errors, _types, the standard library and a2wsgi; never another L2 package.
"""

from __future__ import annotations

from supervisor.asgi.loader import load_app
from supervisor.asgi.proxy_headers import TrustedHosts, apply_proxy_headers

__all__ = ["TrustedHosts", "apply_proxy_headers", "load_app"]
