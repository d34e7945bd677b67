"""Helpers of the deteco tests: keys and tokens made at test time, deteco and nginx started as
real processes in the foreground on free loopback ports (stderr lines collected, JSON decoded),
a recording HTTP backend, stopping by pid (Proc, free_port, wait_port, require and the `procs`
fixture: tests/support/peers.py, tests/conftest.py)."""
from __future__ import annotations

import pathlib
import shutil
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from support import jwt_tokens
from support.jwt_tokens import pem_private  # noqa: F401 (the tests import it from here)
from support.peers import Proc, free_port, require, wait_for, wait_port  # noqa: F401 (the tests import them from here)

BIN = pathlib.Path(sys.executable).parent


def exe(name: str = "deteco") -> str:
    p = BIN / name
    return str(p) if p.exists() else (shutil.which(name) or name)


def pem_public(key) -> str:
    return jwt_tokens.pem_public(key).decode()


def make_token(key, alg="RS256", sub="svc-a", **kw):
    return jwt_tokens.make_token(key, alg, sub, **kw)


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
