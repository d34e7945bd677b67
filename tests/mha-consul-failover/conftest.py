"""Helpers of the mha-consul-failover tests: the shared fake Consul (tests/consul_fake.py) and the
command run the way MHA runs it (a shell command line)."""
from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest
from consul_fake import FakeConsul


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "mha-consul-failover"
    return str(p) if p.exists() else shutil.which("mha-consul-failover")


@pytest.fixture
def consul_acl():
    c = FakeConsul(token="0f6b1d6e-acl-token-for-tests")
    yield c
    c.stop()


class Result:
    def __init__(self, cp: subprocess.CompletedProcess):
        import json
        self.rc = cp.returncode
        self.out = cp.stdout.decode()
        self.err = cp.stderr.decode()
        self.lines = [json.loads(ln) for ln in self.out.splitlines() if ln.strip()]

    def step(self, name: str) -> list[dict]:
        return [ln for ln in self.lines if ln.get("step") == name]


def run_as_mha(script: str, mha_args: str, env: dict | None = None, timeout: float = 60) -> Result:
    """MHA builds one command line (the configured script string + its own arguments) and runs it
    through the shell; so do we."""
    full = dict(os.environ)
    for k in ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_SSL"):
        full.pop(k, None)
    full.update(env or {})
    cmd = f"{shlex.quote(exe())} {script} {mha_args}"
    return Result(subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, env=full, timeout=timeout))
