"""The work dir and state files kept between two runs of a plugin.

Work dir: $MACKEREL_PLUGIN_WORKDIR, else the temp dir ($TMPDIR, else /tmp), as mackerel-agent
and go-mackerel-plugin-helper use it. A state file is replaced atomically: written to a temp file
next to it (`<path>.tmp.<pid>.<random>`), fsync'ed, renamed over the old one, then the directory
fsync'ed; a run killed at any instant (kill -9 included) leaves the old state or the new one,
never a torn one. Temp files left by a killed run are removed by a later run.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
import time


class StateError(Exception):
    """A state file cannot be read (corrupt=False) or is corrupt: `path: why`, ready for stderr."""

    def __init__(self, path: str, why: str, corrupt: bool = False):
        super().__init__(f"{path}: {'corrupt state file (' + why + ')' if corrupt else why}")
        self.path, self.why, self.corrupt = path, why, corrupt


def workdir() -> str:
    """MACKEREL_PLUGIN_WORKDIR, else the temp dir (TMPDIR, /tmp)."""
    return os.environ.get("MACKEREL_PLUGIN_WORKDIR") or tempfile.gettempdir()


def state_key(*parts: str) -> str:
    """A short stable hash of what a state belongs to (canonical paths, a pattern ...)."""
    return hashlib.md5("\0".join(parts).encode()).hexdigest()


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace path by data atomically (temp file, fsync, rename, fsync of the directory)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def clean_stale_temps(path: str, older_than: float = 300.0) -> None:
    """Remove temp files of path (`<path>.tmp*`) left by a run killed between write and rename.
    older_than=0 removes them all (the caller holds a lock, so no other run is writing one)."""
    now = time.time()
    for t in glob.glob(glob.escape(path) + ".tmp*"):
        try:
            if older_than <= 0 or now - os.stat(t).st_mtime > older_than:
                os.unlink(t)
        except OSError:
            pass


def load_json(path: str) -> dict | None:
    """The saved state: None when missing or empty; StateError when unreadable or not a JSON
    object (the caller decides: a fresh start, or an error the user must see)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(path, e.strerror or str(e)) from None
    if not data.strip():
        return None
    try:
        d = json.loads(data)
    except ValueError as e:
        raise StateError(path, str(e), corrupt=True) from None
    if not isinstance(d, dict):
        raise StateError(path, "not a JSON object", corrupt=True)
    return d


def save_json(path: str, obj: dict) -> None:
    write_atomic(path, json.dumps(obj, separators=(",", ":")).encode() + b"\n")
