"""The access log: one JSON object per request with upstream's field names (time, remote_addr,
method, uri, status, size, ua, ptime, host, chocon_req), to stderr, stdout, nowhere, or a
directory with one file per day (access_log.YYYYMMDD), a `current` symlink to today's file, and
files older than `rotate` days removed. A failed write is dropped, never raised."""
from __future__ import annotations

import json
import os
import sys
import time


class AccessLog:
    def __init__(self, where: str = "", rotate_days: int = 30, clock=time.time):
        self.where = where
        self.rotate_days = rotate_days
        self.clock = clock
        self.fh = None
        self.day = None
        self._sec = None
        self._stamp = ""
        if where in ("", "stderr"):
            self.fh = sys.stderr.buffer
        elif where == "stdout":
            self.fh = sys.stdout.buffer
        elif where == "none":
            self.fh = None
        else:
            os.makedirs(where, exist_ok=True)
            self._open(clock())

    @property
    def enabled(self) -> bool:
        return self.where != "none"

    def _open(self, now: float) -> None:
        day = time.strftime("%Y%m%d", time.localtime(now))
        if day == self.day and self.fh is not None:
            return
        name = f"access_log.{day}"
        fh = open(os.path.join(self.where, name), "ab")
        old, self.fh, self.day = self.fh, fh, day
        if old is not None:
            old.close()
        link = os.path.join(self.where, "current")
        tmp = link + ".tmp"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(name, tmp)
            os.replace(tmp, link)
        except OSError:
            pass
        self._expire(now)

    def _expire(self, now: float) -> None:
        if self.rotate_days <= 0:
            return
        limit = now - self.rotate_days * 86400
        try:
            for n in os.listdir(self.where):
                p = os.path.join(self.where, n)
                if n.startswith("access_log.") and n != f"access_log.{self.day}" and os.path.getmtime(p) < limit:
                    os.unlink(p)
        except OSError:
            pass

    def reopen(self) -> None:
        """SIGHUP: reopen today's file (after an external move)."""
        if self.where not in ("", "stderr", "stdout", "none"):
            self.day = None
            try:
                self._open(self.clock())
            except OSError:
                pass

    def stamp(self, now: float) -> str:
        sec = int(now)
        if sec != self._sec:
            t = time.localtime(sec)
            z = time.strftime("%z", t)
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", t) + z[:3] + ":" + z[3:]
            self._sec = sec
            if self.day is not None:
                try:
                    self._open(now)
                except OSError:
                    pass
        return self._stamp

    def write(self, remote_addr: str, method: str, uri: str, status: int, size: int, ua: str,
              ptime: float, host: str, chocon_req: str = "", now: float | None = None) -> None:
        if self.fh is None:
            return
        now = self.clock() if now is None else now
        rec = {"time": self.stamp(now), "remote_addr": remote_addr, "method": method, "uri": uri,
               "status": status, "size": size, "ua": ua, "ptime": round(ptime, 6), "host": host,
               "chocon_req": chocon_req}
        try:
            self.fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "backslashreplace") + b"\n")
            self.fh.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self.fh is not None and self.where not in ("", "stderr", "stdout"):
            try:
                self.fh.close()
            except OSError:
                pass
