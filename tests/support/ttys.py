"""Reading what a subprocess writes to a pseudo-terminal (the colour / progress-on-a-tty tests)."""
from __future__ import annotations

import os


def read_pty(master: int, size: int = 65536) -> bytes:
    """Everything written to the pty until its other side is closed (EOF, or EIO as Linux says it)."""
    chunks = []
    while True:
        try:
            b = os.read(master, size)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)
