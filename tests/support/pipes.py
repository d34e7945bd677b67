"""A command whose stdout is a pipe with O_NONBLOCK set on its write end (the "EAGAIN is not an
error" tests of the stream tools)."""
from __future__ import annotations

import os
import subprocess
import time


def run_to_nonblocking_pipe(argv, stdin=None, timeout: float = 60.0) -> tuple[int, bytes, bytes]:
    """Start argv with that stdout, read nothing for 0.5 s (so the pipe fills and a write would
    block), then read to EOF: (exit status, stdout, stderr)."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    p = subprocess.Popen([str(a) for a in argv], stdin=stdin, stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    time.sleep(0.5)
    chunks = []
    while chunk := os.read(r, 1 << 16):
        chunks.append(chunk)
    os.close(r)
    err = p.stderr.read()
    return p.wait(timeout=timeout), b"".join(chunks), err
