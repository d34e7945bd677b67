"""Helpers for the lltsv tests: run main() in-process on byte streams, find the two binaries."""
from __future__ import annotations

import io
import os
import pathlib
import shutil
import sys

import pytest
from lltsv import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"Result(rc={self.rc}, out={self.out!r}, err={self.err!r})"


def run_main(args, input: bytes = b"", env=None, tty=False) -> Result:
    """main(args) in-process with binary stdin/stdout/stderr; -> rc, stdout bytes, stderr text."""
    stdin = io.BytesIO(input)

    class Out(io.BytesIO):
        def isatty(self):
            return tty

    stdout = Out()
    err = io.BytesIO()
    old_env = dict(os.environ)
    old_stderr = sys.stderr
    if env:
        os.environ.update(env)
    sys.stderr = io.TextIOWrapper(err, write_through=True)   # argparse's usage errors
    try:
        rc = cli.main(list(args), stdin=stdin, stdout=stdout, stderr=err)
    finally:
        sys.stderr.detach()
        sys.stderr = old_stderr
        os.environ.clear()
        os.environ.update(old_env)
    return Result(rc, stdout.getvalue(), err.getvalue().decode("utf-8", "surrogateescape"))


@pytest.fixture
def lltsv():
    return run_main


@pytest.fixture
def ours_bin():
    p = shutil.which("lltsv", path=str(pathlib.Path(sys.executable).parent))
    if not p:
        pytest.skip("lltsv console script not installed next to this interpreter")
    return p


@pytest.fixture
def debian_lltsv():
    """Debian's lltsv (the Go upstream), never ours: looked up in /usr/bin:/bin only."""
    p = shutil.which("lltsv", path="/usr/bin:/bin")
    if p:
        return p
    if os.environ.get("CI"):
        pytest.fail("Debian's lltsv is not installed (scripts/test should have installed it)")
    pytest.skip("Debian's lltsv is not installed")


@pytest.fixture(scope="session")
def access_log(tmp_path_factory):
    """A generated 20k-line access log (scripts/gen_access_log.py)."""
    import subprocess
    p = tmp_path_factory.mktemp("lltsv") / "access.log"
    subprocess.check_call([sys.executable, str(ROOT / "scripts" / "gen_access_log.py"), "-n", "20000",
                           "--seed", "5", "-o", str(p)])
    return p
