"""Where the shim is, and the environment that preloads it."""
from __future__ import annotations

import os
import pathlib

LIBNAME = "libnoexclopen.so"


def shim_path() -> str:
    """The absolute path of the shim installed with this package; FileNotFoundError when the
    package was installed without it (a source tree on sys.path, not a built wheel)."""
    p = pathlib.Path(__file__).resolve().parent / LIBNAME
    if not p.is_file():
        raise FileNotFoundError(2, "the shim is not installed (install the package as a wheel: "
                                   "pip install ./packages/no-excl-open)", str(p))
    return str(p)


def preload_env(environ, so: str) -> dict:
    """A copy of environ with so first in LD_PRELOAD (what was there is kept after it)."""
    env = dict(environ)
    old = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = f"{so} {old}" if old else so
    return env


def exec_with_shim(argv: list[str], so: str, environ=os.environ) -> None:
    """Replace this process by argv[0] (looked up on PATH) with the shim so preloaded. Returns
    only by raising OSError (not found, not executable)."""
    os.execvpe(argv[0], argv, preload_env(environ, so))
