"""Helpers of the deteco tests: keys and tokens made at test time, deteco and nginx started as
real processes in the foreground on free loopback ports (stderr lines collected, JSON decoded),
a recording HTTP backend, stopping by pid."""
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

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

BIN = pathlib.Path(sys.executable).parent


def exe(name: str = "deteco") -> str:
    p = BIN / name
    return str(p) if p.exists() else (shutil.which(name) or name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float = 10.0, step: float = 0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_port(port: int) -> None:
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    assert wait_for(up, 10), f"nothing listens on 127.0.0.1:{port}"


def require(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed (scripts/test should have installed it)")
    pytest.skip(f"{name} is not installed")


def pem_public(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_token(key, alg="RS256", sub="svc-a", now=None, exp_in=60, iat_ago=0, headers=None, **claims):
    now = time.time() if now is None else now
    body = {"sub": sub, "iat": int(now - iat_ago), "exp": int(now + exp_in)}
    body.update(claims)
    for k in [k for k, v in body.items() if v is None]:
        del body[k]
    return jwt.encode(body, key, algorithm=alg, headers=headers)


_KEYS: dict = {}


@pytest.fixture(scope="session")
def keys():
    if not _KEYS:
        _KEYS["rsa"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _KEYS["rsa2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _KEYS["ec"] = ec.generate_private_key(ec.SECP256R1())
    return _KEYS


def toml_conf(keys) -> str:
    return (f'[[services]]\nid = "svc-a"\npaths = ["/allowed", "/also/"]\npublic_keys = ["""{pem_public(keys["rsa"])}"""]\n'
            f'[[services]]\nid = "svc-b"\npaths = ["/b"]\npublic_keys = ["""{pem_public(keys["ec"])}"""]\n'
            f'audience = "deteco-test"\n')


class Proc:
    def __init__(self, argv, ready=None, timeout=15.0):
        self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.lines: list = []
        self.raw: list[bytes] = []
        for f in (self.p.stderr, self.p.stdout):
            threading.Thread(target=self._read, args=(f,), daemon=True).start()
        if ready is not None and not wait_for(lambda: ready(self) or self.p.poll() is not None, timeout):
            self.stop(signal.SIGKILL)
            raise AssertionError(f"{argv[0]} did not get ready:\n{self.text()}")
        if ready is not None and self.p.poll() is not None:
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
def procs():
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop(signal.SIGKILL)


@pytest.fixture
def deteco(procs, tmp_path, keys):
    """deteco(*args, conf=text) -> (Proc, port, conf_path)."""
    def start(*args, conf=None):
        c = tmp_path / f"deteco-{len(procs)}.toml"
        c.write_text(conf if conf is not None else toml_conf(keys))
        port = free_port()
        p = Proc([exe(), "--conf", c, "--listen", f"127.0.0.1:{port}", *args],
                 ready=lambda pr: pr.logs(msg="listening"))
        procs.append(p)
        return p, port, c
    return start


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body, {k.lower(): v for k, v in r.getheaders()}
