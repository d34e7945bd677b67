"""Human sizes, and the one driver of the three log plugins (lock order, one clock, events,
FollowError mapping, positions saved only after the output was flushed)."""
from __future__ import annotations

import errno
import io
import os

import pytest
from mackerel_logfollow.driver import Log, Options, drive
from mackerel_logfollow.sizes import parse_size


@pytest.mark.parametrize("text,value", [("0", 0), ("10MB", 10**7), ("1G", 10**9), ("2GiB", 2**31),
                                        ("1.5kb", 1500), ("512", 512), ("1MiB", 2**20), ("10 mb", 10**7)])
def test_sizes_like_go_humanize(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "ten", "10XB", "-5"])
def test_bad_sizes(bad):
    with pytest.raises(ValueError):
        parse_size(bad)



def _count(i, fol):
    return sum(c.count(b"\n") for c in fol.chunks())


def _report(done):
    return b"".join(f"{log.path} {n}\n".encode() for log, _, n in done), 0


def test_driver_reads_reports_and_commits(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(tmp_path / "wd"))
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"1\n2\n")
    b.write_bytes(b"1\n")
    logs = [Log(str(a), "z-a.json"), Log(str(b), "a-b.json")]
    seen = []

    def read(i, fol):
        seen.append(i)
        return _count(i, fol)
    out = io.BytesIO()
    assert drive("p", out, logs, read, _report, Options()) == 0
    assert seen == [1, 0]                                   # state-path order: one lock order
    assert out.getvalue() == f"{a} 2\n{b} 1\n".encode()
    a.write_bytes(b"1\n2\n3\n")
    out = io.BytesIO()
    assert drive("p", out, logs, _count, _report, Options()) == 0
    assert out.getvalue() == f"{a} 1\n{b} 0\n".encode()       # the positions had moved


def test_driver_leaves_positions_when_the_output_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(tmp_path / "wd"))
    a = tmp_path / "a.log"
    a.write_bytes(b"1\n2\n")
    logs = [Log(str(a), "a.json")]
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(OSError) as e:
        drive("p", full, logs, _count, _report, Options())
    assert e.value.errno == errno.ENOSPC
    assert not os.path.exists(tmp_path / "wd" / "a.json")
    out = io.BytesIO()
    assert drive("p", out, logs, _count, _report, Options()) == 0
    assert out.getvalue() == f"{a} 2\n".encode()


def test_driver_maps_follow_errors_and_partial_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(tmp_path / "wd"))
    a, gone = tmp_path / "a.log", tmp_path / "gone.log"
    a.write_bytes(b"1\n")
    logs = [Log(str(a), "a.json"), Log(str(gone), "g.json")]
    out = io.BytesIO()
    assert drive("p", out, logs, _count, _report, Options()) == 2 and out.getvalue() == b""
    assert f"p: {gone}: No such file or directory" in capsys.readouterr().err
    assert drive("p", out, logs, _count, _report, Options(), partial=True) == 0
    assert out.getvalue() == f"{a} 1\n".encode()
    assert drive("p", out, logs[1:], _count, _report, Options(), partial=True) == 2


def test_driver_prints_events_only_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(tmp_path / "wd"))
    a = tmp_path / "a.log"
    a.write_bytes(b"1\n")
    logs = [Log(str(a), "a.json")]
    drive("p", io.BytesIO(), logs, _count, _report, Options())
    os.rename(a, tmp_path / "a.log.1")
    a.write_bytes(b"2\n")
    drive("p", io.BytesIO(), logs, _count, _report, Options(), events=False)
    assert capsys.readouterr().err == ""
    os.rename(a, tmp_path / "a.log.2")
    a.write_bytes(b"3\n")
    drive("p", io.BytesIO(), logs, _count, _report, Options())
    assert capsys.readouterr().err.startswith(f"p: {a}: rotated")
