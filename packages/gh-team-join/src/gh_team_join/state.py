"""The redelivery guard: the X-GitHub-Delivery ids (or SNS MessageIds) already handled.

Kept in memory for the run and, with --state-dir DIR, in DIR/deliveries (one id a line,
appended and fsynced after a delivery is handled, under an flock so that concurrent runs sharing
the directory do not act twice on one id). Without a state directory, the membership GET before
each PUT is what keeps a redelivery from adding twice or posting twice: an active or pending
member is skipped with no Slack message."""
from __future__ import annotations

import fcntl
import os


class Seen:
    def __init__(self, state_dir: str | None = None):
        self.ids: set[str] = set()
        self.path = os.path.join(state_dir, "deliveries") if state_dir else None
        self._fd = None
        self._read_to = 0        # bytes of the file already read: a reload reads only what was added
        self._partial = b""
        if self.path:
            os.makedirs(state_dir, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)

    def _reload(self) -> None:
        """Read what other runs appended since the last look (under the lock)."""
        chunks = [self._partial]
        while chunk := os.pread(self._fd, 1 << 16, self._read_to):
            chunks.append(chunk)
            self._read_to += len(chunk)
        data = b"".join(chunks)
        data, _, self._partial = data.rpartition(b"\n") if b"\n" in data else (b"", b"", data)
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                self.ids.add(line.strip())

    def __enter__(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._reload()
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def seen(self, delivery_id: str | None) -> bool:
        return bool(delivery_id) and delivery_id in self.ids

    def add(self, delivery_id: str | None) -> None:
        if not delivery_id or delivery_id in self.ids:
            return
        self.ids.add(delivery_id)
        if self._fd is not None:
            line = delivery_id.replace("\n", " ").encode() + b"\n"
            if self._partial:            # a line torn by a killed writer: end it, never extend it
                line, self._partial = b"\n" + line, b""
            os.write(self._fd, line)
            os.fsync(self._fd)
            self._read_to += len(line)   # our own line (called under the lock): not read back

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
