"""Helpers of the consul-service-has-ip tests: the shared fake Consul (tests/consul_fake.py) and the
daemon started as a process on a loopback port, stopped by pid."""
from __future__ import annotations

import http.client
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest
from support.peers import free_port, wait_for


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "consul-service-has-ip"
    return str(p) if p.exists() else shutil.which("consul-service-has-ip")


class Daemon:
    def __init__(self, args, env=None, port=None, pass_fds=(), host="127.0.0.1"):
        self.port = port or free_port()
        self.host = host
        full = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_HTTP")}
        full.update(env or {})
        self.proc = subprocess.Popen([exe(), *args] + ([] if pass_fds else ["-l", host, "-p", str(self.port)]),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full, pass_fds=pass_fds)
        ok = wait_for(lambda: self.proc.poll() is not None or self._up(), timeout=15)
        assert ok and self.proc.poll() is None, self.stop()

    def _up(self) -> bool:
        try:
            return self.get("/live", timeout=1)[0] == 200
        except OSError:
            return False

    def get(self, path, method="GET", timeout=10, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), r.getheader("Content-Type")
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
def daemon():
    started = []

    def start(*args, **kw) -> Daemon:
        d = Daemon(list(args), **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop(signal.SIGKILL, timeout=5)
