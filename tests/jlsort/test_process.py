"""Real processes: pipes, signals, temporary files, exit codes."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest
from support.pipes import run_to_nonblocking_pipe


def _default_sigint():
    """preexec_fn: SIGINT at its default in the child (a test run from a background job of a
    shell without job control inherits SIG_IGN, which Python keeps: no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    """About 30 MB of NDJSON: enough for a sort with a small buffer to take a few seconds."""
    p = tmp_path_factory.mktemp("big") / "big.ndjson"
    rnd = random.Random(11)
    with open(p, "w") as f:
        pad = "x" * 60
        for chunk in range(30):
            f.write("".join(f'{{"id": {chunk * 10000 + i}, "k": "{rnd.randrange(10 ** 6):06d}", '
                            f'"pad": "{pad}"}}\n' for i in range(10000)))
    return p


def _temp_files_of(pid: int, tmpdir) -> list[str]:
    out = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(tmpdir)):
                out.append(target)
    except OSError:
        pass
    return out


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_signal_in_the_middle_of_an_external_sort_leaves_no_temp_file(script, big_input, tmp_path,
                                                                       sig, code):
    tdir = tmp_path / "tmp"
    tdir.mkdir()
    out = tmp_path / "out" / "sorted.ndjson"
    out.parent.mkdir()
    p = subprocess.Popen([script("jlsort"), "-k", "k", "-c", "256k", "-T", tdir, "-o", out, big_input],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 3 and p.poll() is None:
        seen = _temp_files_of(p.pid, tdir)
        time.sleep(0.05)
    assert seen, "the sort used the temporary directory"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert b"Traceback" not in err
    assert list(tdir.iterdir()) == []
    assert list(out.parent.iterdir()) == []


def test_sigterm_while_writing_output_keeps_the_old_file(script, big_input, tmp_path):
    # -o FILE that is also an input goes through an anonymous file renamed at the end
    out = tmp_path / "sorted.ndjson"
    old = big_input.read_bytes()
    out.write_bytes(old)
    p = subprocess.Popen([script("jlsort"), "-k", "k", "-c", "1m", "-o", out, out],
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None and not _temp_files_of(p.pid, tmp_path):
        time.sleep(0.02)  # wait for the anonymous output file beside the target
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    if p.returncode == 0:
        pytest.skip("the sort finished before the signal")
    assert p.returncode == 143
    assert out.read_bytes() == old
    assert [x.name for x in tmp_path.iterdir()] == ["sorted.ndjson"]


def test_external_sort_output_is_complete(script, big_input, tmp_path):
    r = subprocess.run([script("jlsort"), "-k", "k", "-c", "2m", "-T", tmp_path, big_input],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    src = big_input.read_bytes().splitlines()
    assert len(lines) == len(src) and sorted(lines) == sorted(src)
    keys = [(x[x.index(b'"k": "') + 6:x.index(b'"k": "') + 12], int(x[7:x.index(b",")])) for x in lines]
    assert keys[0] == (json.loads(lines[0])["k"].encode(), json.loads(lines[0])["id"])
    assert keys == sorted(keys)  # sorted by k, ties in input (id) order
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,args", [("jlsort", ["-k", "k"]), ("jlsort", ["-k", "k", "-c", "256k"]),
                                       ("jluniq", ["-k", "id"])])
def test_closed_pipe_exits_quietly(script, big_input, name, args):
    p1 = subprocess.Popen([script(name), *args, big_input], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
    p1.stdout.close()
    out, _ = p2.communicate(timeout=120)
    err = p1.stderr.read()
    rc = p1.wait(timeout=120)
    assert out.count(b"\n") == 1
    assert rc == 141 and err == b"", (rc, err)


def test_join_closed_pipe(script, big_input, tmp_path):
    sorted_ = tmp_path / "s.ndjson"
    subprocess.run([script("jlsort"), "-k", "id", "-c", "1g", "-o", sorted_, big_input], check=True)
    p1 = subprocess.Popen([script("jljoin"), "-k", "id", sorted_, sorted_], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    p2 = subprocess.Popen(["head", "-2"], stdin=p1.stdout, stdout=subprocess.PIPE)
    p1.stdout.close()
    out, _ = p2.communicate(timeout=120)
    err = p1.stderr.read()
    assert p1.wait(timeout=120) == 141 and err == b""
    assert out.count(b"\n") == 2


def test_full_disk_is_a_clear_error(script, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    data = b"".join(b'{"k":%d}\n' % i for i in range(1000))
    r = subprocess.run(f"{script('jlsort')} -k k > /dev/full", shell=True, input=data, capture_output=True)
    assert r.returncode == 1 and b"jlsort: " in r.stderr and b"No space left" in r.stderr
    assert b"Traceback" not in r.stderr


def test_help_and_usage_errors_in_a_subprocess(script):
    for name in ("jlsort", "jljoin", "jluniq"):
        r = subprocess.run([script(name), "--help"], capture_output=True)
        assert r.returncode == 0 and r.stdout.startswith(b"usage: " + name.encode())
        r = subprocess.run([script(name), "--nope"], capture_output=True)
        assert r.returncode == 2 and f"{name}: ".encode() in r.stderr
    r = subprocess.run([script("jlsort"), "-k", "k", "-c", "1.5g"], capture_output=True)
    assert r.returncode == 2 and b"invalid capacity size: '1.5g'" in r.stderr


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MB tmpfs: a disk that fills up in the middle of a write (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)])


@pytest.mark.parametrize("name", ["jlsort", "jluniq", "jljoin"])
def test_disk_filling_up_mid_write_is_an_error_not_a_short_file(script, tmp_path, small_tmpfs, name):
    """Python's buffered write returns a short count on ENOSPC after a partial write, without
    raising: the tools must not take that as done (it was a truncated file and exit 0)."""
    src = tmp_path / "in.ndjson"
    # 3,000 lines of 600 bytes: 1.8 MB written in one call (under one 4,096-line batch), the last
    # write of the run, the one whose short count used to be ignored
    src.write_bytes(b"".join(b'{"k":%d,"pad":"%s"}\n' % (i, b"x" * 580) for i in range(3000)))
    args = [src, src] if name == "jljoin" else [src]
    with open(small_tmpfs / "out", "wb") as out:
        r = subprocess.run([script(name), "-k", "k", *args], stdout=out, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"No space left" in r.stderr
    assert b"Traceback" not in r.stderr


def test_temp_dir_filling_up_mid_run_is_an_error(script, tmp_path, small_tmpfs):
    src = tmp_path / "in.ndjson"
    src.write_bytes(b"".join(b'{"k":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(40000)))
    r = subprocess.run([script("jlsort"), "-k", "k", "-c", "256K", "-T", str(small_tmpfs), src],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"No space left" in r.stderr and b"Traceback" not in r.stderr
    # the message names the temporary directory (the close after the failed write raised again
    # and the bare "No space left on device" lost it)
    assert f"write error on a temporary file in {small_tmpfs}".encode() in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["jlsort", "jluniq"])
def test_nonblocking_stdin_is_waited_on_not_taken_as_empty(script, name):
    # stdin inherited with O_NONBLOCK and no data ready yet: read() gives None, which was taken
    # as the end of input: empty output, exit 0
    data = b"".join(b'{"k":%d}\n' % i for i in range(1000))
    r, w = os.pipe()
    os.set_blocking(r, False)
    p = subprocess.Popen([script(name), "-k", "k"], stdin=r, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    os.close(r)
    time.sleep(0.5)
    os.write(w, data)
    os.close(w)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out == data


@pytest.mark.parametrize("name", ["jlsort", "jluniq", "jljoin"])
def test_nonblocking_stdout_loses_nothing(script, tmp_path, name):
    # stdout inherited with O_NONBLOCK and a slow reader: the buffered write returned a short
    # count, then None ("would block"), which was taken as "all written": truncated, exit 0
    src = tmp_path / "in.ndjson"
    data = b"".join(b'{"k":%d,"pad":"%s"}\n' % (i, b"x" * 80) for i in range(30000))
    src.write_bytes(data)
    args = [src, src] if name == "jljoin" else [src]
    rc, out, err = run_to_nonblocking_pipe([script(name), "-k", "k", *args], timeout=60)
    assert rc == 0, err
    assert out.count(b"\n") == 30000, len(out)
    if name != "jljoin":
        assert out == data


@pytest.mark.parametrize("name", ["jlsort", "jljoin", "jluniq"])
@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_into_a_full_disk_are_write_errors(script, name, flag):
    # argparse swallowed the OSError: --help > /dev/full exited 0 having written nothing
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        r = subprocess.run([script(name), flag], stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"{name}: write error: No space left".encode()), r.stderr


@pytest.mark.parametrize("name", ["jlsort", "jljoin", "jluniq"])
def test_usage_error_says_error_like_every_tool_of_the_suite(script, name):
    r = subprocess.run([script(name), "-k", "k", "--nope", "a", "b"], capture_output=True, timeout=60)
    assert r.returncode == 2 and f"\n{name}: error: unrecognized arguments: --nope".encode() in r.stderr
