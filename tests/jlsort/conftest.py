"""Helpers for the jlsort / jljoin / jluniq tests: in-process runs with byte streams, and the
installed console scripts for subprocess tests."""
from __future__ import annotations

import io
import pathlib
import shutil
import sys

import pytest


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    @property
    def lines(self):
        return self.out.splitlines()

    def __repr__(self):
        return f"Result(rc={self.rc}, out={self.out[:300]!r}, err={self.err[:300]!r})"


def run_main(fn, argv, stdin: bytes = b"") -> Result:
    """Run a console-script main([...]) in process with byte streams."""
    old = sys.stdin, sys.stdout, sys.stderr
    out, err = io.BytesIO(), io.BytesIO()
    wrappers = (io.TextIOWrapper(io.BytesIO(stdin)), io.TextIOWrapper(out, write_through=True),
                io.TextIOWrapper(err, write_through=True))
    sys.stdin, sys.stdout, sys.stderr = wrappers
    try:
        try:
            rc = fn([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    res = Result(rc, out.getvalue(), err.getvalue().decode())
    for w in wrappers:
        w.detach()
    return res


@pytest.fixture
def jlsort():
    from jlsort.cli import main
    return lambda *argv, stdin=b"": run_main(main, argv, stdin)


@pytest.fixture
def jljoin():
    from jlsort.cli import jljoin_main
    return lambda *argv, stdin=b"": run_main(jljoin_main, argv, stdin)


@pytest.fixture
def jluniq():
    from jlsort.cli import jluniq_main
    return lambda *argv, stdin=b"": run_main(jluniq_main, argv, stdin)


def exe(name: str) -> str:
    p = pathlib.Path(sys.executable).parent / name
    if p.exists():
        return str(p)
    found = shutil.which(name)
    assert found, f"{name} is not installed"
    return found


@pytest.fixture
def script():
    return exe
