"""Settings: TOML text and uvicorn-style options in, immutable typed objects (or a ConfigError) out.

Pure: no sockets, processes, signals or event loops here; time and environment come in as arguments
(`Config()` alone reads os.environ, for uvicorn's WEB_CONCURRENCY and FORWARDED_ALLOW_IPS).
"""

from supervisor.config.convert import Bind, FdBind, TcpBind, UnixBind, parse_bind
from supervisor.config.loader import load_file, load_text
from supervisor.config.schema import AppConfig, ServeFile, ServerSection

__all__ = [
    "AppConfig",
    "Bind",
    "FdBind",
    "ServeFile",
    "ServerSection",
    "TcpBind",
    "UnixBind",
    "load_file",
    "load_text",
    "parse_bind",
]
