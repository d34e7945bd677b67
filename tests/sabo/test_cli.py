"""sabo through the command line: real processes, pipes, signals and lock files."""
import fcntl
import hashlib
import os
import signal
import subprocess
import time

import pytest
from conftest import records, wait_for
from sabo import __version__
from sabo.cli import main


def run(sabo_bin, args, input=b"", timeout=60, **kw):
    return subprocess.run([sabo_bin, *args], input=input, capture_output=True, timeout=timeout, **kw)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sabo {__version__}\n"
    assert main(["-v"]) == 0
    assert capsys.readouterr().out.startswith("sabo ")


@pytest.mark.parametrize("args", [[], ["--work-dir", "x"], ["--max-bandwidth", "1M"],
                                  ["--max-bandwidth", "1Gx", "--work-dir", "x"],
                                  ["--max-bandwidth", "0", "--work-dir", "x"], ["extra"],
                                  # huge or infinite values were a select() OverflowError traceback
                                  ["--max-bandwidth", "1M", "--work-dir", "x", "--refresh", "1e308"],
                                  ["--max-bandwidth", "1M", "--work-dir", "x", "--refresh", "inf"],
                                  ["--max-bandwidth", "1M", "--work-dir", "x", "--weight", "inf"]])
def test_usage_errors(args, capsys):
    assert main(args) == 2
    assert "sabo: error:" in capsys.readouterr().err


def test_missing_work_dir(tmp_path, sabo_bin):
    r = run(sabo_bin, ["--max-bandwidth", "1M", "--work-dir", str(tmp_path / "nope")], b"x")
    assert r.returncode == 1
    assert r.stderr == (f"sabo: Cannot create reader:could not open workdir: open {tmp_path / 'nope'}: "
                        "no such file or directory\n").encode()
    assert r.stdout == b""


def test_mkdir_and_byte_identical_copy(tmp_path, sabo_bin):
    data = os.urandom(3_000_000) + b"\r\nno newline at the end"
    wd = tmp_path / "a" / "b"
    r = run(sabo_bin, ["--max-bandwidth", "1G", "--work-dir", str(wd), "--mkdir"], data)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()
    assert os.listdir(wd) == [], "our lock file is removed at exit"


def test_single_dash_go_style_flags(tmp_path, sabo_bin):
    r = run(sabo_bin, ["-max-bandwidth", "800Mbit", "-work-dir", str(tmp_path)], b"hello\n")
    assert (r.returncode, r.stdout) == (0, b"hello\n")


def test_small_share_delivers_every_byte(tmp_path, sabo_bin):
    # Upstream reads 32 KiB at once; with a share below 32 KiB/s it logs "exceeds limiter's
    # burst", stops after 32768 bytes and exits 0.
    data = os.urandom(40_000)
    t0 = time.monotonic()
    r = run(sabo_bin, ["--max-bandwidth", "32K", "--work-dir", str(tmp_path)], data)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    assert r.stderr == b""
    assert time.monotonic() - t0 > 0.8   # it was limited (40 kB at 32 kB/s)


def _hold(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_tiny_share_between_31_members(tmp_path, sabo_bin):
    # 30 upstream-style members (locked files, no record) + us: 32000/31 = 1032 B/s each
    fds = [_hold(tmp_path / f"sabo_32000_{90000 + i}_x{i}.lock") for i in range(30)]
    try:
        data = os.urandom(1500)
        t0 = time.monotonic()
        r = run(sabo_bin, ["--max-bandwidth", "32K", "--work-dir", str(tmp_path)], data)
        assert r.returncode == 0, r.stderr
        assert r.stdout == data
        assert time.monotonic() - t0 > 1.0   # limited to ~1 kB/s, yet nothing lost
        assert len(os.listdir(tmp_path)) == 30, "the live members' files are left alone"
    finally:
        for fd in fds:
            os.close(fd)


def test_stale_files_are_removed(tmp_path, sabo_bin):
    (tmp_path / "sabo_1000000_12345_dead.lock").write_bytes(b"")    # nobody holds its flock
    (tmp_path / "unrelated.txt").write_bytes(b"keep")
    r = run(sabo_bin, ["--max-bandwidth", "1M", "--work-dir", str(tmp_path)], b"x")
    assert r.returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["unrelated.txt"]


def test_write_error_is_reported(tmp_path, sabo_bin):
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sabo_bin, "--max-bandwidth", "1G", "--work-dir", str(tmp_path)],
                           input=b"x" * 100_000, stdout=full, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 1
    assert b"sabo: write error: No space left on device" in p.stderr
    assert os.listdir(tmp_path) == []


def test_closed_pipe_exits_141_quietly_and_removes_lock(tmp_path, sabo_bin):
    with open(tmp_path / "in", "wb") as f:
        f.write(os.urandom(20_000_000))
    wd = tmp_path / "w"
    wd.mkdir()
    with open(tmp_path / "in", "rb") as src:
        p1 = subprocess.Popen([sabo_bin, "--max-bandwidth", "1G", "--work-dir", str(wd)], stdin=src,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p2 = subprocess.Popen(["head", "-c", "10"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        out, _ = p2.communicate(timeout=60)
        err = p1.stderr.read()
        rc = p1.wait(timeout=60)
    assert len(out) == 10
    assert (rc, err) == (141, b"")
    assert os.listdir(wd) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_stdin_idle_exits_at_once(tmp_path, sabo_bin, sig, code):
    r, w = os.pipe()
    p = subprocess.Popen([sabo_bin, "--max-bandwidth", "1M", "--work-dir", str(tmp_path)], stdin=r,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, b"before\n")
        assert wait_for(lambda: records(tmp_path)), "registered"
        assert p.stdout.read(7) == b"before\n"
        p.send_signal(sig)
        rc = p.wait(timeout=10)     # upstream waits for more input
        assert rc == code
        assert p.stderr.read() == b""
        assert os.listdir(tmp_path) == []
    finally:
        os.close(w)
        p.kill()
        p.wait()


def _member(sabo_bin, wd, *extra, stdin=None):
    return subprocess.Popen([sabo_bin, "--max-bandwidth", "10M", "--work-dir", str(wd), *extra],
                            stdin=stdin if stdin is not None else open("/dev/zero", "rb"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _alloc(wd, pid):
    for m in records(wd).values():
        if m.pid == pid:
            return m.alloc
    return None


def test_join_and_kill9_are_reflected(tmp_path, sabo_bin):
    a = _member(sabo_bin, tmp_path)
    b = None
    try:
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 10_000_000)
        b = _member(sabo_bin, tmp_path)
        # both converge to half the cap
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 5_000_000 and _alloc(tmp_path, b.pid) == 5_000_000)
        b.send_signal(signal.SIGKILL)
        b.wait()
        # the survivor takes it all back and removes the stale file
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 10_000_000 and len(records(tmp_path)) == 1)
    finally:
        for p in (a, b):
            if p:
                p.kill()
                p.wait()


def test_upstream_member_without_record_is_counted(tmp_path, sabo_bin):
    fd = _hold(tmp_path / "sabo_10000000_4242_abc.lock")
    a = _member(sabo_bin, tmp_path)
    try:
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 5_000_000)
    finally:
        a.kill()
        a.wait()
        os.close(fd)


def test_idle_member_gives_its_share_back(tmp_path, sabo_bin):
    r, w = os.pipe()
    idle = _member(sabo_bin, tmp_path, stdin=r)
    os.close(r)
    busy = _member(sabo_bin, tmp_path)
    try:
        # upstream: the idle holder keeps half; here the busy one gets almost everything
        assert wait_for(lambda: (_alloc(tmp_path, busy.pid) or 0) >= 9_000_000)
        assert wait_for(lambda: (_alloc(tmp_path, idle.pid) or 1e9) <= 1_000_000)
    finally:
        os.close(w)
        for p in (idle, busy):
            p.kill()
            p.wait()


def test_groups_are_separate_and_weights_apply(tmp_path, sabo_bin):
    a = _member(sabo_bin, tmp_path, "--group", "x", "--weight", "3")
    b = _member(sabo_bin, tmp_path, "--group", "x")
    c = _member(sabo_bin, tmp_path, "--group", "y")
    try:
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 7_500_000 and _alloc(tmp_path, b.pid) == 2_500_000
                        and _alloc(tmp_path, c.pid) == 10_000_000)
    finally:
        for p in (a, b, c):
            p.kill()
            p.wait()


def test_disagreeing_bandwidth_is_warned(tmp_path, sabo_bin):
    a = _member(sabo_bin, tmp_path)
    try:
        assert wait_for(lambda: records(tmp_path))
        r = run(sabo_bin, ["--max-bandwidth", "20M", "--work-dir", str(tmp_path)], b"x" * 10)
        assert r.returncode == 0
        assert b"uses --max-bandwidth 10000000, we use 20000000" in r.stderr
    finally:
        a.kill()
        a.wait()


def test_sigusr1_prints_stats_and_progress(tmp_path, sabo_bin):
    a = _member(sabo_bin, tmp_path, "--progress")
    try:
        assert wait_for(lambda: records(tmp_path))
        time.sleep(1.3)
        a.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        a.send_signal(signal.SIGTERM)
        assert a.wait(timeout=10) == 143
        err = a.stderr.read().decode()
        assert "member(s)" in err and "share 10.00MB/s" in err
        assert len(err.splitlines()) >= 2     # a progress line and the SIGUSR1 line
    finally:
        a.kill()
        a.wait()


def test_stopped_member_does_not_keep_its_share(tmp_path, sabo_bin):
    # Ctrl-Z (or a member blocked on a slow reader) stops refreshing: after ~1 s its record is
    # stale and no longer reserves bandwidth; it does not freeze the others either.
    a = _member(sabo_bin, tmp_path)
    b = _member(sabo_bin, tmp_path)
    try:
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 5_000_000 and _alloc(tmp_path, b.pid) == 5_000_000)
        b.send_signal(signal.SIGSTOP)
        assert wait_for(lambda: (_alloc(tmp_path, a.pid) or 0) >= 9_000_000)
        b.send_signal(signal.SIGCONT)
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == 5_000_000 and _alloc(tmp_path, b.pid) == 5_000_000)
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait()


def test_stop_signal_does_not_wait_forever_on_a_blocked_writer(tmp_path, sabo_bin):
    # stdout is a pipe nobody reads: sabo blocks in write(); SIGTERM must still end it
    r, w = os.pipe()
    with open("/dev/zero", "rb") as zero:
        p = subprocess.Popen([sabo_bin, "--max-bandwidth", "1G", "--work-dir", str(tmp_path)], stdin=zero,
                             stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    try:
        assert wait_for(lambda: records(tmp_path))
        time.sleep(0.5)                     # the pipe is full by now
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 143
        assert b"output blocked" in p.stderr.read()
        assert os.listdir(tmp_path) == []
    finally:
        os.close(r)
        p.kill()
        p.wait()


@pytest.mark.parametrize("fd,name", [(0, b"standard input"), (1, b"standard output")])
def test_closed_standard_descriptor_is_an_error(tmp_path, sabo_bin, fd, name):
    # without the check, the wakeup pipe or the lock file would take the closed number
    r = subprocess.run([sabo_bin, "--max-bandwidth", "1M", "--work-dir", str(tmp_path)],
                       stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20,
                       pass_fds=(), preexec_fn=lambda: os.close(fd))
    assert r.returncode == 1
    assert r.stderr == b"sabo: " + name + b": Bad file descriptor\n"
    assert os.listdir(tmp_path) == []


def _read_all_later(fd, delay):
    time.sleep(delay)  # a slow reader: the pipe fills and a non-blocking write gets EAGAIN
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_nonblocking_stdout_is_waited_on_not_an_error(tmp_path, sabo_bin):
    # stdout inherited with O_NONBLOCK (node, some ssh set-ups): EAGAIN was "write error", exit 1
    src = tmp_path / "in"
    data = os.urandom(2_000_000)
    src.write_bytes(data)
    r, w = os.pipe()
    os.set_blocking(w, False)
    with open(src, "rb") as f:
        p = subprocess.Popen([sabo_bin, "--max-bandwidth", "1G", "--work-dir", str(tmp_path)],
                             stdin=f, stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    out = _read_all_later(r, 0.5)
    err = p.stderr.read()
    assert p.wait(timeout=30) == 0, err
    assert out == data
