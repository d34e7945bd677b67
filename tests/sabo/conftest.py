import os
import pathlib
import sys

import pytest
from support import peers


@pytest.fixture
def sabo_bin():
    p = pathlib.Path(sys.executable).parent / "sabo"
    return str(p) if p.exists() else "sabo"


def records(workdir):
    """The published records of the live members, by file name."""
    from sabo.group import NAME_RE, decode_record
    out = {}
    for name in os.listdir(workdir):
        m = NAME_RE.match(name)
        if m:
            try:
                data = (pathlib.Path(workdir) / name).read_bytes()
            except FileNotFoundError:
                continue
            out[name] = decode_record(name, int(m.group(1)), data)
    return out


def wait_for(pred, timeout=10.0, step=0.05):
    """pred()'s first true value within timeout seconds, else its last value (support.peers.wait_for)."""
    return peers.wait_for(pred, timeout, step)
