import io
import pathlib
import shutil
import sys

import pytest
from percentile.cli import main


class Result:
    def __init__(self, rc, out, err):
        self.returncode, self.stdout, self.stderr = rc, out, err


@pytest.fixture
def pct():
    """Run percentile in-process with byte streams: pct(args, input=b"") -> Result."""
    def run(args, input=b""):
        out, err = io.BytesIO(), io.BytesIO()
        rc = main(list(args), stdin=io.BytesIO(input), stdout=out, stderr=err)
        return Result(rc, out.getvalue(), err.getvalue())
    return run


@pytest.fixture
def exe():
    p = pathlib.Path(sys.executable).parent / "percentile"
    return str(p) if p.exists() else shutil.which("percentile")
