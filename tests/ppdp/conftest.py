"""Helpers of the ppdp tests: a loopback echo upstream that records what it received, ppdp (and
haproxy, nginx) started as real processes in the foreground on free loopback ports, their log lines,
and stopping them by pid."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def ppdp_bin() -> str:
    p = pathlib.Path(sys.executable).parent / "ppdp"
    return str(p) if p.exists() else "ppdp"


def free_port(host: str = "127.0.0.1") -> int:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float = 10.0, step: float = 0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class EchoServer:
    """A threaded TCP upstream on loopback: echoes what it reads; after the client's EOF it
    finishes, shuts its side down and closes (half-close observed). `received` holds each
    connection's bytes; reader=False makes a server that accepts and never reads."""

    def __init__(self, host: str = "127.0.0.1", reader: bool = True, greeting: bytes = b""):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.reader = reader
        self.greeting = greeting
        self.received: list[bytearray] = []
        self.eof_seen: list[bool] = []
        self.conns: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            i = len(self.received)
            self.received.append(bytearray())
            self.eof_seen.append(False)
            if self.reader:
                threading.Thread(target=self._serve, args=(c, i), daemon=True).start()

    def _serve(self, c, i):
        try:
            if self.greeting:
                c.sendall(self.greeting)
            while True:
                b = c.recv(65536)
                if not b:
                    self.eof_seen[i] = True
                    break
                self.received[i] += b
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


class Proc:
    """A server process started in the foreground; its stderr lines are collected (JSON decoded
    when they are JSON); stop() sends SIGTERM to its pid and waits."""

    def __init__(self, argv, env=None, pass_fds=(), ready=None, timeout=10.0):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=full_env, pass_fds=pass_fds)
        self.lines: list = []
        self.raw: list[bytes] = []
        threading.Thread(target=self._read, args=(self.p.stderr,), daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stdout,), daemon=True).start()
        if ready is not None and not wait_for(lambda: ready(self) or self.p.poll() is not None, timeout):
            self.stop()
            raise AssertionError(f"{argv[0]} did not get ready:\n{self.text()}")
        if self.p.poll() is not None:
            raise AssertionError(f"{argv[0]} exited {self.p.returncode}:\n{self.text()}")

    def _read(self, f):
        for line in f:
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append(line.decode(errors="replace"))

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


@pytest.fixture
def echo():
    servers = []

    def make(host="127.0.0.1", **kw):
        s = EchoServer(host, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def ppdp():
    """ppdp(upstream, *args, listen=None) -> (Proc, port): started, listening, stopped at the end."""
    procs = []

    def start(upstream: str, *args, listen: str | None = None, env=None, pass_fds=(), ready=True):
        port = None
        argv = [ppdp_bin(), "--upstream", upstream, *args]
        if listen is None and not pass_fds:
            port = free_port()
            argv += ["-l", f"127.0.0.1:{port}"]
        elif listen is not None:
            argv += ["-l", listen]
            port = int(listen.rpartition(":")[2])
        p = Proc(argv, env=env, pass_fds=pass_fds,
                 ready=(lambda pr: pr.logs(msg="listening")) if ready else None)
        procs.append(p)
        return p, port

    yield start
    for p in procs:
        p.stop(signal.SIGKILL)


def require(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed (scripts/test should have installed it)")
    pytest.skip(f"{name} is not installed")


def connect(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection((host, port), timeout=timeout)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            break
        buf += b
    return bytes(buf)


def recv_all(s: socket.socket) -> bytes:
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(buf)
        buf += b


def read_until_closed(s: socket.socket) -> bytes:
    """What arrives before the peer closes; a reset (closed with our bytes unread) counts as closed."""
    try:
        return recv_all(s)
    except ConnectionResetError:
        return b""
