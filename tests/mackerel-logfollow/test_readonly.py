"""A read-only follower (--dry-run of the log plugins, issue 14.12): it reads what a normal run
would read, and creates, removes or saves nothing."""
from __future__ import annotations

import os

from mackerel_logfollow.follow import Follower


def test_readonly_follower_reads_the_same_and_writes_nothing(tmp_path):
    log, wd = tmp_path / "a.log", tmp_path / "w"
    log.write_bytes(b"one\n")
    state = str(wd / "s.json")
    with Follower(str(log), state, readonly=True) as f:
        assert b"".join(f.chunks()) == b"one\n"
        f.commit()
    assert not wd.exists()
    with Follower(str(log), state) as f:
        assert b"".join(f.chunks()) == b"one\n"
        f.commit()
    (wd / "s.json.tmp.1.x").write_bytes(b"left by a killed run")
    os.utime(wd / "s.json.tmp.1.x", (0, 0))
    with open(log, "ab") as fh:
        fh.write(b"two\n")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in wd.iterdir()}
    for _ in range(2):
        with Follower(str(log), state, readonly=True) as f:
            assert b"".join(f.chunks()) == b"two\n" and f.duration > 0
            f.commit()
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in wd.iterdir()} == before
