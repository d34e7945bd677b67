"""Helpers of the no-excl-open tests: the installed command, the shim it ships, and the test C
programs (c/opener.c, c/race.c) compiled once per session with the system C compiler."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "no-excl-open"
    return str(p) if p.exists() else shutil.which("no-excl-open")


@pytest.fixture(scope="session")
def shim() -> str:
    r = subprocess.run([exe(), "--print-path"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    path = r.stdout.decode().strip()
    assert pathlib.Path(path).is_file()
    return path


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory):
    """cbuild(name, shared=False) -> path of tests/no-excl-open/c/<name>.c compiled."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    out_dir = tmp_path_factory.mktemp("cbin")
    done: dict = {}

    def build(name: str, shared: bool = False) -> str:
        if name not in done:
            out = out_dir / (f"{name}.so" if shared else name)
            cmd = [cc, "-O1", "-Wall", "-o", str(out), str(HERE / "c" / f"{name}.c")]
            if shared:
                cmd[1:1] = ["-shared", "-fPIC"]
                cmd.append("-ldl")
            subprocess.run(cmd, check=True, timeout=60)
            done[name] = str(out)
        return done[name]

    return build
