"""Loopback peers for the daemon tests (ppdp, motarei, wsgate, deteco, consul-service-has-ip):
free ports, waiting for a condition or a listening port, a required external program, and `Proc`,
a server process started in the foreground whose output lines are collected (JSON decoded when
they are JSON) and which is stopped by pid. Standard library only (pytest inside require), so
scripts/bench can use it through tests/consul_fake.py too."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on now (IPv6 when host has a colon, e.g. "::1")."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float = 10.0, step: float = 0.02):
    """pred()'s first true value within timeout seconds, else its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_port(port: int, host: str = "127.0.0.1") -> None:
    def up():
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            return False
    assert wait_for(up, 10), f"nothing listens on {host}:{port}"


def require(name: str, bin_dir=None) -> str:
    """The path of an external program (on PATH, then in bin_dir, then /usr/sbin); skips when it is
    missing, except under CI=true, where scripts/test has installed it and its absence is a failure."""
    path = shutil.which(name) or (str(bin_dir / name) if bin_dir is not None and (bin_dir / name).exists() else None) \
        or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed (scripts/test should have installed it)")
    pytest.skip(f"{name} is not installed")


class Proc:
    """A server process started in the foreground with stdin from /dev/null (or `stdin`). Its stderr
    and stdout lines are collected in `lines` (JSON decoded when they are JSON) and `raw`; with
    raw_stdout=True stdout is kept as bytes in `out` instead. With `ready` (a predicate on the Proc)
    it waits up to `timeout` for it and fails when the process does not get ready or has exited
    (always_check_exit: also without `ready`). stop() signals the pid and waits."""

    def __init__(self, argv, env=None, ready=None, timeout: float = 15.0, stdin=subprocess.DEVNULL,
                 pass_fds=(), raw_stdout: bool = False, always_check_exit: bool = False):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.argv = [str(a) for a in argv]
        self.p = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=full_env, pass_fds=pass_fds)
        self.lines: list = []
        self.raw: list[bytes] = []
        self.out = bytearray()
        threading.Thread(target=self._read, args=(self.p.stderr,), daemon=True).start()
        if raw_stdout:
            threading.Thread(target=self._out, daemon=True).start()
        else:
            threading.Thread(target=self._read, args=(self.p.stdout,), daemon=True).start()
        if ready is not None and not wait_for(lambda: ready(self) or self.p.poll() is not None, timeout):
            self.stop(signal.SIGKILL)
            raise AssertionError(f"{argv[0]} did not get ready:\n{self.text()}")
        if (ready is not None or always_check_exit) and self.p.poll() is not None:
            raise AssertionError(f"{argv[0]} exited {self.p.returncode}:\n{self.text()}")

    def _read(self, f):
        for line in f:
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append(line.decode(errors="replace"))

    def _out(self):
        while True:
            b = self.p.stdout.read1(65536) if hasattr(self.p.stdout, "read1") else self.p.stdout.read(65536)
            if not b:
                return
            self.out += b

    def text(self) -> str:
        return b"".join(self.raw).decode(errors="replace")

    def logs(self, **match) -> list[dict]:
        return [x for x in list(self.lines) if isinstance(x, dict) and all(x.get(k) == v for k, v in match.items())]

    def wait_log(self, timeout=10.0, **match) -> dict:
        got = wait_for(lambda: self.logs(**match), timeout)
        assert got, f"no log line with {match}:\n{self.text()}"
        return got[-1]

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self, sig=signal.SIGTERM, timeout=15.0) -> int:
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
        return self.p.returncode



class LoopbackServer:
    """A threaded TCP server on a free loopback port (IPv6 when host has a colon). A subclass sets its
    own attributes, then calls start(): a thread accepts, keeps each connection in `conns` and hands
    it to accepted(conn). close() stops accepting and closes every connection."""

    def __init__(self, host: str = "127.0.0.1", backlog: int = 64, reuse_addr: bool = False):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if reuse_addr:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.conns: list[socket.socket] = []

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            self.accepted(c)

    def accepted(self, c: socket.socket) -> None:
        raise NotImplementedError

    def close(self):
        self.closed = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
