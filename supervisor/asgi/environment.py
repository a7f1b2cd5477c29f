"""The app's environment: `env_file` and `env` applied by one rule, wherever the app is run.

The rule: a variable the process already has (from the shell serve was started in) wins over
env_file, as with uvicorn's --env-file; the TOML `env` table wins over both. `serve run` applies
it in its server, and under a master (`serve run --workers N`, `serve up`) each worker's bootstrap
applies it before dropping privileges, while a root-only env_file is still readable; the
server's own call in that worker then changes nothing.

It writes os.environ, in the process about to import the app; python-dotenv is imported only
when there is a file to read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# The pid of a worker whose bootstrap applied its app's environment (set in the forked child only).
_settled_in: int | None = None


def apply_environment(env_file: str | None, env: Mapping[str, str], *, settle: bool = False) -> None:
    """Set `env_file`'s variables the process lacks, then every variable of `env`, in os.environ.

    Args:
        env_file: a dotenv file, or None.
        env: the TOML `env` table.
        settle: a worker's bootstrap, before it drops privileges: later calls in this process
            (its server's) change nothing, since the file may no longer be readable then.

    Raises:
        OSError: env_file cannot be read.
    """
    global _settled_in
    if _settled_in == os.getpid():  # the pid: a child forked after this applies for itself
        return
    if env_file:
        import dotenv

        dotenv.load_dotenv(env_file, override=False)
    os.environ.update(env)
    if settle:
        _settled_in = os.getpid()
