import pathlib
import sys

import pytest


@pytest.fixture
def rl_bin():
    p = pathlib.Path(sys.executable).parent / "relaxlogs"
    return str(p) if p.exists() else "relaxlogs"
