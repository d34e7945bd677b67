"""The state file between runs: its name, and reading it leniently (mackerel-plugin-helper writes
it atomically and finds the work dir).

Location: $MACKEREL_PLUGIN_WORKDIR, else $TMPDIR (else /tmp), file
`<uid>-process-status-v3-<key-prefix>-<target>` (target: the PID, or `match-<sha1 of regex>`).
"""
from __future__ import annotations

import os
from urllib.parse import quote

from mackerel_plugin_helper.state import (
    StateError,
    clean_stale_temps,
    load_json,
    save_json,
    workdir,
)


def state_path(key_prefix: str, target: str, directory: str | None = None) -> str:
    name = f"{os.getuid()}-process-status-v3-{quote(key_prefix, safe='')}-{quote(target, safe='')}"
    return os.path.join(directory or workdir(), name)


def load(path: str) -> dict | None:
    """The previous state, or None when missing, unreadable or foreign (a first run then)."""
    try:
        data = load_json(path)
    except StateError:
        return None
    return data if data is not None and data.get("version") == 3 else None


def save(path: str, data: dict) -> None:
    clean_stale_temps(path)        # left by a run killed between write and rename
    save_json(path, data)
