"""Helpers for the ecs-exec-pf tests (fixtures are in conftest.py)."""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

EXE = str(pathlib.Path(sys.executable).parent / "ecs-exec-pf")


def plugin_runs(env) -> list[dict]:
    d = pathlib.Path(env["FAKE_PLUGIN_RECORD"])
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime)]


class Running:
    """ecs-exec-pf as a subprocess with --log-format json; collects its events."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen([EXE, "--log-format", "json", *args], env={**os.environ, **env},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events: list[dict] = []
        self.raw: list[bytes] = []
        self.cv = threading.Condition()
        self._eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cv:
                self.raw.append(line)
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    pass
                self.cv.notify_all()
        with self.cv:
            self._eof = True
            self.cv.notify_all()

    def wait_event(self, name, count=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = [e for e in self.events if e["event"] == name]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and self._eof):
                    raise AssertionError(f"no {count}x {name} event; got {self.raw!r}")
                self.cv.wait(min(left, 0.2))

    def stop(self, sig, timeout=15):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
