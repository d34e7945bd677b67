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
        if self.path:
            os.makedirs(state_dir, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)

    def _reload(self) -> None:
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._fd, 1 << 16):
            chunks.append(chunk)
        for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
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
            os.write(self._fd, delivery_id.replace("\n", " ").encode() + b"\n")
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
