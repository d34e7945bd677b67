"""The state file between runs: where it lives, reading it leniently, writing it atomically.

Location: $MACKEREL_PLUGIN_WORKDIR, else $TMPDIR (else /tmp), file
`<uid>-process-status-v3-<key-prefix>-<target>` (target: the PID, or `match-<sha1 of regex>`).
Written to a temporary file in the same directory, fsync'ed, then renamed over the old one, so a
run killed at any moment (kill -9 included) leaves either the old or the new state.
"""
from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from urllib.parse import quote


def workdir() -> str:
    return os.environ.get("MACKEREL_PLUGIN_WORKDIR") or tempfile.gettempdir()


def state_path(key_prefix: str, target: str, directory: str | None = None) -> str:
    name = f"{os.getuid()}-process-status-v3-{quote(key_prefix, safe='')}-{quote(target, safe='')}"
    return os.path.join(directory or workdir(), name)


def load(path: str) -> dict | None:
    """The previous state, or None when missing or unreadable (that run counts as a first run)."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == 3 else None


def save(path: str, data: dict) -> None:
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    _clean_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(data, separators=(",", ":")).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _clean_stale_temps(path: str, age: float = 300.0) -> None:
    """Remove temporary files left by a run killed with SIGKILL between write and rename."""
    now = time.time()
    for t in glob.glob(glob.escape(path) + ".tmp*"):
        try:
            if now - os.stat(t).st_mtime > age:
                os.unlink(t)
        except OSError:
            pass
