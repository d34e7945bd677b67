"""relaxlogs through the command line: real processes, pipes, signals, files and limits."""
import gzip
import os
import re
import resource
import signal
import subprocess
import time

import pytest
from relaxlogs import __version__
from relaxlogs.cli import main
from support.pipes import run_to_nonblocking_pipe


def run(rl_bin, args, input=b"", env=None, timeout=60, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([rl_bin, *args], input=input, capture_output=True, env=e, timeout=timeout, **kw)


def logs(d):
    return sorted(p.name for p in d.iterdir() if p.name.startswith("log."))


def content(d):
    return b"".join((d / n).read_bytes() for n in logs(d))


def wait_for(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"relaxlogs {__version__}\n"
    assert main(["-h"]) == 0
    assert "--rotation-time" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--rotation-time", "x"], ["--max-age", "1.5"], ["--tz", "Mars/X"],
                                  ["--max-size", "10Q"], ["--time-format", "iso"], ["extra"],
                                  # nan / inf were accepted: a select() traceback on the first retry
                                  ["--retry-interval", "nan"], ["--retry-interval", "inf"],
                                  ["--retry-interval", "-1"],
                                  # no file name: was retried as a write error, then exit 1
                                  ["--pattern", ""], ["--pattern", "a/"], ["--pattern", ".."]])
def test_usage_errors(args, capsys):
    assert main(args) == 2
    assert "relaxlogs: error:" in capsys.readouterr().err


def test_drop_in_basics(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r = run(rl_bin, ["--log-dir", str(d)], b"a\r\nb\nlast", env={"TZ": "UTC"})
    assert (r.returncode, r.stderr) == (0, b"")
    [name] = logs(d)
    assert re.fullmatch(r"log\.\d{10}00", name), name     # hourly: minutes are 00
    assert (d / name).read_bytes() == b"a\nb\nlast\n"
    assert os.readlink(d / "current") == name
    assert oct((d / name).stat().st_mode & 0o777) == "0o644"


def test_go_style_single_dash_flags(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r = run(rl_bin, ["-log-dir", str(d), "-rotation-time", "1440", "-max-age", "0"], b"x\n",
            env={"TZ": "UTC"})
    assert r.returncode == 0
    assert re.fullmatch(r"log\.\d{8}0000", logs(d)[0])


def test_with_time_has_the_real_offset(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r = run(rl_bin, ["--log-dir", str(d), "--with-time"], b"a\r\nb", env={"TZ": "UTC"})
    assert r.returncode == 0
    lines = content(d).splitlines()
    assert len(lines) == 2
    for line, word in zip(lines, (b"a", b"b"), strict=True):
        # upstream: always "+0900"
        assert re.fullmatch(rb"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] " + word, line), line
    r = run(rl_bin, ["--with-time", "--tz", "Asia/Tokyo"], b"x\n")
    assert re.fullmatch(rb"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0900\] x\n", r.stdout)


@pytest.mark.parametrize("logdir", ["", "stdout"])
def test_stdout_mode(logdir, rl_bin):
    r = run(rl_bin, ["--log-dir", logdir, "--time-format", "epoch"], b"a\r\nb")
    assert r.returncode == 0
    now = int(time.time())
    m = re.fullmatch(rb"(\d+) a\n(\d+) b\n", r.stdout)
    assert m and abs(int(m.group(1)) - now) < 60


def test_ten_megabyte_line_is_written_whole(tmp_path, rl_bin):
    # upstream: "bufio.Scanner: token too long", exit 1, nothing written
    d = tmp_path / "logs"
    line = os.urandom(5 * 1024 * 1024).hex().encode()
    r = run(rl_bin, ["--log-dir", str(d)], line + b"\nnext\n")
    assert r.returncode == 0, r.stderr
    assert content(d) == line + b"\nnext\n"


def test_max_line_splits_and_says_so(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r = run(rl_bin, ["--log-dir", str(d), "--max-line", "4"], b"abcdefghij\nok\n")
    assert r.returncode == 0
    assert content(d) == b"abcd\nefgh\nij\nok\n"
    assert b"1 line(s) longer than --max-line were split" in r.stderr


def test_cleanup_finishes_before_exit_and_max_age_zero_keeps(tmp_path, rl_bin):
    d = tmp_path / "logs"
    d.mkdir()
    now = time.time()
    for name, days in (("log.200001010000", 8), ("log.200001020000", 2)):
        (d / name).write_bytes(b"old\n")
        os.utime(d / name, (now - days * 86400, now - days * 86400))
    assert run(rl_bin, ["--log-dir", str(d), "--max-age", "0"], b"x\n").returncode == 0
    assert {"log.200001010000", "log.200001020000"} <= set(logs(d))   # upstream: 8-day one removed
    # default 1440 minutes: a short run removes both at once (upstream: background goroutine)
    assert run(rl_bin, ["--log-dir", str(d)], b"x\n").returncode == 0
    assert not {"log.200001010000", "log.200001020000"} & set(logs(d))


def test_timer_rotation_without_input(tmp_path, rl_bin):
    # put the clock 3.5 s before a minute boundary (room for a slow start), one-minute files
    now = time.time()
    offset = (60 - now % 60) - 3.5
    d = tmp_path / "logs"
    r, w = os.pipe()
    p = subprocess.Popen([rl_bin, "--log-dir", str(d), "--rotation-time", "1"], stdin=r,
                         env={**os.environ, "RELAXLOGS_CLOCK_OFFSET": str(offset)},
                         stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, b"one\n")
        assert wait_for(lambda: len(logs(d)) == 1 if d.exists() else False)
        first = logs(d)[0]
        assert wait_for(lambda: len(logs(d)) == 2, timeout=12)       # no input needed
        assert os.readlink(d / "current") != first
    finally:
        os.close(w)
        assert p.wait(timeout=10) == 0
    assert (d / first).read_bytes() == b"one\n"


def test_term_drains_the_pipe_and_finishes_the_line(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r, w = os.pipe()
    # the writer never closes the pipe: the 0.5 s grace ends, what the pipe holds then is read
    p = subprocess.Popen([rl_bin, "--log-dir", str(d), "--shutdown-timeout", "0.5"], stdin=r,
                         stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, b"one\n")
        assert wait_for(lambda: d.exists() and content(d) == b"one\n")
        # stop the reader from reading, then fill the pipe and signal
        p.send_signal(signal.SIGSTOP)
        os.write(w, b"two\n" * 1000 + b"partial")
        p.send_signal(signal.SIGTERM)
        p.send_signal(signal.SIGCONT)
        assert p.wait(timeout=10) == 0      # while the writer still holds the pipe open
        assert content(d) == b"one\n" + b"two\n" * 1000 + b"partial\n"
    finally:
        os.close(w)
        p.kill()
        p.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_also_exit_0(tmp_path, rl_bin, sig):
    d = tmp_path / "logs"
    r, w = os.pipe()
    p = subprocess.Popen([rl_bin, "--log-dir", str(d), "--shutdown-timeout", "0.5"], stdin=r,
                         stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, b"x\n")
        assert wait_for(lambda: d.exists() and content(d) == b"x\n")
        p.send_signal(sig)
        assert p.wait(timeout=10) == 0
    finally:
        os.close(w)
        p.kill()
        p.wait()


def test_hup_reopens_and_alrm_rotates(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r, w = os.pipe()
    p = subprocess.Popen([rl_bin, "--log-dir", str(d), "--compress", "gzip"], stdin=r,
                         stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, b"a\n")
        assert wait_for(lambda: d.exists() and len(logs(d)) == 1)
        name = logs(d)[0]
        os.rename(d / name, tmp_path / "moved")        # like logrotate's move
        p.send_signal(signal.SIGHUP)
        assert wait_for(lambda: (d / name).exists())        # reopened: a new, empty file
        os.write(w, b"b\n")
        assert wait_for(lambda: (d / name).exists() and (d / name).read_bytes() == b"b\n")
        p.send_signal(signal.SIGALRM)
        assert wait_for(lambda: (d / f"{name}.1").exists())  # rotated now
        os.write(w, b"c\n")
        assert wait_for(lambda: (d / f"{name}.1").exists() and (d / f"{name}.1").read_bytes() == b"c\n")
    finally:
        os.close(w)
        assert p.wait(timeout=10) == 0
    assert (tmp_path / "moved").read_bytes() == b"a\n"
    assert gzip.decompress((d / f"{name}.gz").read_bytes()) == b"b\n"
    assert os.readlink(d / "current") == f"{name}.1"


def _fsize_limit():
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_full_disk_is_reported(tmp_path, rl_bin):
    # upstream: final-flush errors are ignored, exit 0, no message
    d = tmp_path / "logs"
    r = run(rl_bin, ["--log-dir", str(d), "--retry", "1", "--retry-interval", "0.1"],
            b"y" * 99 + b"\n" * 1 + b"z" * 200_000 + b"\n", preexec_fn=_fsize_limit)
    assert r.returncode == 1
    assert b"File too large; retrying in 0.1s (1/1)" in r.stderr
    assert b"File too large; giving up" in r.stderr


def test_unwritable_dir_exits_1_with_message(tmp_path, rl_bin):
    (tmp_path / "file").write_bytes(b"")
    r = run(rl_bin, ["--log-dir", str(tmp_path / "file" / "logs"), "--retry", "0"], b"x\n")
    assert r.returncode == 1
    assert b"relaxlogs: " in r.stderr and b"Not a directory" in r.stderr


def test_retry_holds_input_until_the_dir_works(tmp_path, rl_bin):
    blocker = tmp_path / "logs"
    blocker.write_bytes(b"")          # a file where the directory should be
    p = subprocess.Popen([rl_bin, "--log-dir", str(blocker / "sub"), "--retry", "50",
                          "--retry-interval", "0.1"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"held\n")
    p.stdin.flush()
    time.sleep(0.5)
    blocker.unlink()
    p.stdin.write(b"after\n")
    p.stdin.close()
    assert p.wait(timeout=20) == 0
    assert content(blocker / "sub") == b"held\nafter\n"
    assert b"retrying" in p.stderr.read()


def test_lock_refuses_a_second_writer(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r, w = os.pipe()
    p = subprocess.Popen([rl_bin, "--log-dir", str(d), "--lock"], stdin=r)
    os.close(r)
    try:
        assert wait_for(lambda: (d / ".relaxlogs.lock").exists())
        time.sleep(0.2)
        second = run(rl_bin, ["--log-dir", str(d), "--lock"], b"x\n")
        assert second.returncode == 1 and b"another relaxlogs" in second.stderr
    finally:
        os.close(w)
        p.wait(timeout=10)


def test_tee_post_rotate_and_pattern(tmp_path, rl_bin):
    d = tmp_path / "logs"
    hook = tmp_path / "hook"
    r = run(rl_bin, ["--log-dir", str(d), "--pattern", "app/%Y/app.log", "--link", "app.current",
                     "--max-size", "4", "--tee", "--post-rotate", f"echo >>{hook}"], b"aaa\nbbb\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"aaa\nbbb\n"
    [year] = os.listdir(d / "app")
    assert sorted(os.listdir(d / "app" / year)) == ["app.log", "app.log.1"]
    assert os.readlink(d / "app.current") == f"app/{year}/app.log.1"
    assert hook.read_text() == f"{d}/app/{year}/app.log {d}/app/{year}/app.log.1\n"


def test_no_link(tmp_path, rl_bin):
    d = tmp_path / "logs"
    assert run(rl_bin, ["--log-dir", str(d), "--no-link"], b"x\n").returncode == 0
    assert not (d / "current").exists()


def test_link_that_cannot_be_replaced_is_reported_and_leaves_no_stray_file(tmp_path, rl_bin):
    d = tmp_path / "logs"
    (d / "current").mkdir(parents=True)  # a directory where the link should go
    r = run(rl_bin, ["--log-dir", str(d)], b"x\n")
    assert r.returncode == 0 and b"cannot update the link" in r.stderr
    names = sorted(os.listdir(d))
    assert len(names) == 2 and names[0] == "current" and names[1].startswith("log."), names


def test_stdout_closed_pipe_exits_141_quietly(tmp_path, rl_bin):
    big = tmp_path / "in"
    big.write_bytes(b"line of text\n" * 300_000)
    with open(big, "rb") as src:
        p1 = subprocess.Popen([rl_bin], stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        out, _ = p2.communicate(timeout=60)
        rc = p1.wait(timeout=60)
        err = p1.stderr.read()
    assert out == b"line of text\n"
    assert (rc, err) == (141, b"")


@pytest.mark.parametrize("mode", ["line", "interval", "rotate"])
def test_fsync_modes_write_everything(tmp_path, rl_bin, mode):
    d = tmp_path / "logs"
    data = b"".join(b"line %d\n" % i for i in range(5000))
    r = run(rl_bin, ["--log-dir", str(d), "--fsync", mode, "--max-size", "10K"], data)
    assert r.returncode == 0, r.stderr
    names = logs(d)
    assert len(names) > 3
    assert b"".join((d / n).read_bytes() for n in sorted(names, key=lambda n: int(n.rsplit(".", 1)[1])
                                                          if n.count(".") == 2 else 0)) == data


def test_closed_stdin_is_an_error_closed_stdout_is_not_needed(tmp_path, rl_bin):
    r = subprocess.run([rl_bin, "--log-dir", str(tmp_path / "a")], stderr=subprocess.PIPE, timeout=20,
                       preexec_fn=lambda: os.close(0))
    assert (r.returncode, r.stderr) == (1, b"relaxlogs: standard input: Bad file descriptor\n")
    r = subprocess.run([rl_bin, "--log-dir", str(tmp_path / "b")], input=b"x\n", stderr=subprocess.PIPE,
                       timeout=20, preexec_fn=lambda: os.close(1))
    assert r.returncode == 0, r.stderr
    assert content(tmp_path / "b") == b"x\n"


@pytest.mark.parametrize("offset", ["nan", "inf", "1e308"])
def test_absurd_clock_offset_is_refused_not_a_traceback(tmp_path, rl_bin, offset):
    r = subprocess.run([rl_bin, "--log-dir", str(tmp_path / "logs")], input=b"a\n",
                       env={**os.environ, "RELAXLOGS_CLOCK_OFFSET": offset}, capture_output=True,
                       timeout=30)
    assert r.returncode == 2, r.stderr
    assert b"RELAXLOGS_CLOCK_OFFSET" in r.stderr and b"Traceback" not in r.stderr


def test_nonblocking_stdout_is_waited_on_not_an_error(tmp_path, rl_bin):
    # stdout inherited with O_NONBLOCK: EAGAIN was "write error: standard output", exit 1
    src = tmp_path / "in"
    data = b"".join(b"line %d\n" % i for i in range(200_000))
    src.write_bytes(data)
    with open(src, "rb") as f:
        rc, out, err = run_to_nonblocking_pipe([rl_bin, "--log-dir", "stdout"], stdin=f, timeout=30)
    assert rc == 0, err
    assert out == data
