"""User text in messages as typed: no repr() (which doubles every backslash, so `\\pL` read as
`\\\\pL`), bytes that are not UTF-8 as `\\xff`, in single quotes."""
from __future__ import annotations

import os


def show(text: str | bytes, limit: int = 0) -> str:
    b = text if isinstance(text, bytes) else os.fsencode(text)
    s = b.decode("utf-8", "backslashreplace")
    if limit and len(s) > limit:
        s = s[:limit] + "..."
    return f"'{s}'"
