"""Output modes, and the process-level contract: pipes, signals, exit codes, streaming."""
import json
import os
import select
import signal
import subprocess

import pytest


def test_color_always(lltsv):
    r = lltsv(["--color=always", "-k", "a,b"], b"a:1\n")
    assert r.out == b"\x1b[0;32ma\x1b[0m:\x1b[0;35m1\x1b[0m\t\x1b[0;32mb\x1b[0m:\x1b[0;35m\x1b[0m\n"


def test_color_auto_follows_the_terminal_and_no_color(lltsv):
    assert b"\x1b[" in lltsv(["-k", "a"], b"a:1\n", tty=True).out
    assert b"\x1b[" not in lltsv(["-k", "a"], b"a:1\n", tty=False).out
    assert b"\x1b[" not in lltsv(["-k", "a"], b"a:1\n", tty=True, env={"NO_COLOR": "1"}).out
    assert b"\x1b[" not in lltsv(["--color", "never"], b"a:1\n", tty=True).out
    # -K is never coloured
    assert lltsv(["-k", "a", "-K"], b"a:1\n", tty=True).out == b"1\n"


def test_json(lltsv):
    r = lltsv(["--json"], b"a:1\tb:x y\ta:3\n\nc:\xff\n")
    recs = [json.loads(x) for x in r.out.decode().splitlines()]
    assert recs == [{"a": "3", "b": "x y"}, {}, {"c": "\ufffd"}]
    r = lltsv(["--json", "-k", "b,nope", "-f", "a > 2"], b"a:1\tb:2\na:3\tb:4\n")
    assert [json.loads(x) for x in r.out.decode().splitlines()] == [{"b": "4", "nope": None}]


def test_header(lltsv):
    r = lltsv(["-K", "-k", "status,reqtime", "--header"], b"status:200\treqtime:0.1\n")
    assert r.out == b"status\treqtime\n200\t0.1\n"
    assert lltsv(["--header", "-k", "a"], b"").rc == 2


def test_pipe_into_head_exits_141_quietly(ours_bin, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"a:1\tb:2\n" * 2_000_000)
    for args in ([], ["-k", "b"], ["-e", "c = a + b", "-k", "c"]):
        p1 = subprocess.Popen([ours_bin, *args, str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        out, _ = p2.communicate(timeout=60)
        err = p1.stderr.read()
        assert p1.wait(timeout=60) == 141, err
        assert err == b""
        assert out.count(b"\n") == 1


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_130_and_sigterm_143_without_traceback(ours_bin, sig, code):
    # SIGINT at its default in the child: a test run from a background job of a shell without
    # job control inherits SIG_IGN, which Python keeps
    p = subprocess.Popen([ours_bin, "-k", "a"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    p.stdin.write(b"a:1\n")
    p.stdin.flush()
    assert p.stdout.readline() == b"a:1\n"   # also proves streaming: printed before EOF
    p.send_signal(sig)
    rc = p.wait(timeout=30)
    err = p.stderr.read()
    p.stdin.close()
    assert rc == code
    assert b"Traceback" not in err


def test_streaming_prints_each_line_as_it_arrives(ours_bin):
    p = subprocess.Popen([ours_bin, "-K", "-k", "n", "-f", "n > 1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    try:
        for i in range(5):
            p.stdin.write(b"n:%d\n" % i)
            p.stdin.flush()
            if i > 1:
                ready, _, _ = select.select([p.stdout], [], [], 30)
                assert ready, "no output before EOF"
                assert p.stdout.readline() == b"%d\n" % i
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert p.returncode == 0


def test_write_error_exits_1(ours_bin, tmp_path):
    if not os.path.exists("/dev/full"):
        return
    f = tmp_path / "in"
    f.write_bytes(b"a:1\n" * 1000)
    with open("/dev/full", "wb") as full:
        r = subprocess.run([ours_bin, str(f)], stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith(b"lltsv: write error: No space left on device")
    assert b"Traceback" not in r.stderr


def test_help_and_version_into_a_full_disk_are_write_errors(ours_bin):
    """argparse swallows OSError when printing --help: it used to exit 0 having written nothing."""
    if not os.path.exists("/dev/full"):
        return
    for flag in ("--help", "--version"):
        with open("/dev/full", "wb") as full:
            r = subprocess.run([ours_bin, flag], stdout=full, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 1, flag
        assert r.stderr.startswith(b"lltsv: write error: ") and b"Traceback" not in r.stderr


def test_closed_standard_streams_are_io_errors_not_tracebacks(ours_bin, tmp_path):
    import shlex
    f = tmp_path / "in"
    f.write_bytes(b"a:1\n" * 1000)
    def run(redir, *args):
        return subprocess.run(" ".join(["exec", shlex.quote(ours_bin), *args, redir]), shell=True,
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, timeout=60)
    r = run(">&-", shlex.quote(str(f)))
    assert (r.returncode, r.stderr) == (1, b"lltsv: write error: Bad file descriptor\n")
    r = run("<&-")
    assert r.returncode == 1 and r.stderr.endswith(b": Bad file descriptor\n"), r.stderr
    assert b"Traceback" not in r.stderr
    r = run(">&-", "--help")
    assert (r.returncode, r.stderr) == (1, b"lltsv: write error: Bad file descriptor\n")


def test_missing_file_among_existing_ones(ours_bin, tmp_path, run_cmd):
    a = tmp_path / "a"
    a.write_bytes(b"a:1\n")
    r = run_cmd([ours_bin, a, tmp_path / "missing", a])
    assert r.returncode == 1
    assert r.stdout == b"a:1\na:1\n"
    assert r.stderr.decode() == f"lltsv: {tmp_path / 'missing'}: No such file or directory\n"


def test_usage_error_message(ours_bin, run_cmd):
    r = run_cmd([ours_bin, "-f", "a >"])
    assert r.returncode == 2
    assert b"lltsv: error: invalid filter 'a >'" in r.stderr
    assert r.stdout == b""


def test_huge_line_in_a_file_is_fine(ours_bin, tmp_path, run_cmd):
    f = tmp_path / "f"
    f.write_bytes(b"a:" + b"x" * (10 << 20) + b"\tb:1\n" + b"a:2\tb:3\n")
    r = run_cmd([ours_bin, "-k", "b", "-K", f])
    assert r.returncode == 0 and r.stdout == b"1\n3\n"


def test_short_write_at_the_end_is_not_lost(ours_bin, tmp_path):
    """One output chunk bigger than the pipe buffer, the reader gone after 10 bytes: Python's
    buffered write returns a short count without raising; the tool must still exit 141."""
    one_chunk = tmp_path / "one"
    one_chunk.write_bytes(b"a:1\tb:2\n" * 150_000)  # 1.2 MB: a single read chunk
    p1 = subprocess.Popen([ours_bin, str(one_chunk)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p2 = subprocess.Popen(["head", "-c", "10"], stdin=p1.stdout, stdout=subprocess.PIPE)
    p1.stdout.close()
    p2.communicate(timeout=60)
    assert p1.wait(timeout=60) == 141, p1.stderr.read()


def test_full_disk_is_a_write_error(ours_bin, tmp_path):
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        src = tmp_path / "in"
        src.write_bytes(b"a:1\tb:2\n" * 300_000)  # 2.4 MB of output into 1 MB of space
        with open(mnt / "out", "wb") as out:
            r = subprocess.run([ours_bin, str(src)], stdout=out, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 1, r.stderr
        assert b"write error" in r.stderr and b"No space left" in r.stderr
    finally:
        subprocess.run(["umount", str(mnt)])
