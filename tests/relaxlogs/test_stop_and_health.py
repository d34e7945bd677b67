"""Issue 14 (relaxlogs): no line lost on stop or on a vanished directory, hook output kept out of
the data, a split count independent of reads, health visible without stderr. Real processes,
pipes, signals and files."""
import os
import re
import signal
import subprocess
import sys
import time

from test_cli import content, logs, run, wait_for

# A writer that counts exactly what the pipe accepted: one os.write per line (below PIPE_BUF,
# so all or nothing), until SIGTERM (or for `seconds`), then `after` more lines over `linger`
# seconds (its shutdown lines), then it writes its count to `countfile` and exits.
WRITER = r"""
import os, signal, sys, time
after, linger, seconds, countfile = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
stop = []
signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
n = 0
def put():
    global n
    try:
        os.write(1, b"line %08d %s\n" % (n, b"x" * 60))
    except BrokenPipeError:
        return False
    n += 1
    return True
end = time.monotonic() + seconds
ok = True
while ok and not stop and time.monotonic() < end:
    ok = put()
    if n % 200 == 0:
        time.sleep(0.002)
for _ in range(after if ok else 0):
    if not put():
        break
    time.sleep(linger / after)
with open(countfile, "w") as f:
    f.write(str(n))
"""


def expected(n):
    return b"".join(b"line %08d %s\n" % (i, b"x" * 60) for i in range(n))


def _pipeline(tmp_path, rl_args, after, linger, seconds, same_group):
    d = tmp_path / "logs"
    count = tmp_path / "count"
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(after), str(linger), str(seconds), str(count)],
                         stdout=subprocess.PIPE, process_group=0)
    p = subprocess.Popen([rl_args[0], "--log-dir", str(d), *rl_args[1:]],
                         stdin=w.stdout, stderr=subprocess.PIPE,
                         process_group=w.pid if same_group else None)
    w.stdout.close()
    return d, count, w, p


def test_term_to_the_process_group_keeps_the_writers_shutdown_lines(tmp_path, rl_bin):
    # systemd stop / Ctrl-C in `app | relaxlogs`: both get the signal; the app's 3000 lines
    # written after it (over 0.6 s) were lost (relaxlogs had exited, the app got EPIPE)
    d, count, w, p = _pipeline(tmp_path, [rl_bin], 3000, 0.6, 60, same_group=True)
    try:
        assert wait_for(lambda: d.exists() and logs(d) and len(content(d)) > 100_000)
        os.killpg(w.pid, signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        assert w.wait(timeout=30) == 0
        n = int(count.read_text())
        got = content(d)
        assert got.count(b"\n") == n
        assert got == expected(n)
        assert p.stderr.read() == b""
    finally:
        for x in (w, p):
            x.kill()
            x.wait()


def test_term_to_relaxlogs_alone_reads_on_to_the_end_of_input(tmp_path, rl_bin):
    # the writer does not know: it keeps writing for 1.5 s; everything the pipe accepted is logged
    # (before: what the pipe held at the signal only; the writer's later lines were dropped)
    d, count, w, p = _pipeline(tmp_path, [rl_bin], 0, 0, 1.5, same_group=False)
    try:
        assert wait_for(lambda: d.exists() and logs(d))
        p.send_signal(signal.SIGTERM)
        assert w.wait(timeout=30) == 0
        assert p.wait(timeout=30) == 0
        n = int(count.read_text())
        assert n > 1000
        got = content(d)
        assert got.count(b"\n") == n
        assert got == expected(n)
    finally:
        for x in (w, p):
            x.kill()
            x.wait()


def spawn(rl_bin, *args):
    """relaxlogs reading a pipe of ours: (process, write end)."""
    r, w = os.pipe()
    p = subprocess.Popen([rl_bin, *args], stdin=r, stderr=subprocess.PIPE)
    os.close(r)
    return p, w


def test_shutdown_timeout_cuts_a_writer_that_never_ends_and_says_so(tmp_path, rl_bin):
    d = tmp_path / "logs"
    p, wfd = spawn(rl_bin, "--log-dir", str(d), "--shutdown-timeout", "0.5")
    try:
        os.write(wfd, b"one\n")
        assert wait_for(lambda: d.exists() and content(d) == b"one\n")
        p.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        os.write(wfd, b"two\n")                # within the grace: logged
        t0 = time.monotonic()
        assert p.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5
        assert content(d) == b"one\ntwo\n"
        err = p.stderr.read()
        assert re.search(rb"shutdown timeout \(0.5s\) before the end of the input: 0 bytes left unread", err), err
    finally:
        os.close(wfd)
        p.kill()
        p.wait()


def test_a_second_stop_signal_ends_the_grace_at_once(tmp_path, rl_bin):
    d = tmp_path / "logs"
    p, wfd = spawn(rl_bin, "--log-dir", str(d))          # default grace: 10 s
    try:
        os.write(wfd, b"one\n")
        assert wait_for(lambda: d.exists() and content(d) == b"one\n")
        p.send_signal(signal.SIGINT)
        time.sleep(0.3)
        os.write(wfd, b"two\n")
        assert wait_for(lambda: content(d) == b"one\ntwo\n")   # still reading
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)                      # Ctrl-C again
        assert p.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5
        assert b"stopped by a second signal before the end of the input: 0 bytes left unread" in p.stderr.read()
    finally:
        os.close(wfd)
        p.kill()
        p.wait()


def test_removed_directory_or_file_is_recreated_within_a_second(tmp_path, rl_bin):
    import shutil
    d = tmp_path / "logs"
    p, w = spawn(rl_bin, "--log-dir", str(d))
    try:
        os.write(w, b"before\n")
        assert wait_for(lambda: d.exists() and content(d) == b"before\n")
        [name] = logs(d)
        shutil.rmtree(d)                                       # rm -rf L
        assert wait_for(lambda: (d / name).exists(), timeout=5)   # detected, recreated
        os.write(w, b"after rm -rf\n")
        assert wait_for(lambda: content(d) == b"after rm -rf\n")
        assert os.readlink(d / "current") == name
        (d / name).unlink()                                    # rm L/log.*
        assert wait_for(lambda: (d / name).exists(), timeout=5)
        os.write(w, b"after rm\n")
        assert wait_for(lambda: content(d) == b"after rm\n")
        time.sleep(1.5)                                        # no repeated warnings
    finally:
        os.close(w)
        assert p.wait(timeout=10) == 0
    err = p.stderr.read().decode()
    assert err.count("removed while being written") == 2, err   # once per removal
    assert content(d) == b"after rm\n"


def test_post_rotate_output_never_goes_to_the_teed_stdout(tmp_path, rl_bin):
    d = tmp_path / "logs"
    r = run(rl_bin, ["--log-dir", str(d), "--max-size", "4", "--tee", "--post-rotate", "echo HOOK"],
            b"aaa\nbbb\nccc\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"aaa\nbbb\nccc\n"            # was: HOOK lines in the data
    assert r.stderr.count(b"HOOK ") == 2


def test_split_count_of_one_long_line_through_a_pipe(tmp_path, rl_bin):
    # a 2.5 MB line arrives in several reads: it is one line split (was "2 line(s)" or more)
    d = tmp_path / "logs"
    p = subprocess.Popen([rl_bin, "--log-dir", str(d), "--max-line", "1000"], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = b"y" * 2_500_000 + b"\n"
    for i in range(0, len(line), 300_000):
        p.stdin.write(line[i:i + 300_000])
        p.stdin.flush()
        time.sleep(0.02)
    p.stdin.write(b"short\n")
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    assert p.stderr.read() == b"relaxlogs: 1 line(s) longer than --max-line were split\n"
    assert content(d) == b"y" * 1000 + b"\n" * 1 + (b"y" * 1000 + b"\n") * 2499 + b"short\n"


def _status(path):
    try:
        line = path.read_text()
    except FileNotFoundError:
        return {}
    return dict(f.split(":", 1) for f in line.rstrip("\n").split("\t"))


def test_status_file_and_sigusr1_with_stderr_going_nowhere(tmp_path, rl_bin):
    blocker = tmp_path / "logs"
    blocker.write_bytes(b"")                 # a file where the directory should be: retries
    st = tmp_path / "status"
    p = subprocess.Popen([rl_bin, "--log-dir", str(blocker / "sub"), "--max-line", "10", "--retry", "-1",
                          "--retry-interval", "0.1", "--status-file", str(st)],
                         stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdin.write(b"held\n")
        p.stdin.flush()
        assert wait_for(lambda: int(_status(st).get("retries", 0)) >= 2)
        blocker.unlink()
        p.stdin.write(b"a line longer than ten bytes\n")
        p.stdin.flush()
        assert wait_for(lambda: int(_status(st).get("bytes_written", 0)) == 36)
        p.send_signal(signal.SIGUSR1)           # was: killed by SIGUSR1's default action
        s = _status(st)
        assert (s["state"], s["bytes_read"], s["files"], s["lines_split"], s["bytes_dropped"]) == \
            ("running", "34", "1", "1", "0")
        assert s["current"].startswith(str(blocker / "sub" / "log."))
    finally:
        p.stdin.close()
        assert p.wait(timeout=10) == 0
    s = _status(st)
    assert s["state"] == "exited 0" and s["bytes_written"] == "36"
    assert content(blocker / "sub") == b"held\na line lon\nger than t\nen bytes\n"


def test_status_file_counts_dropped_bytes(tmp_path, rl_bin):
    (tmp_path / "file").write_bytes(b"")
    st = tmp_path / "status"
    r = run(rl_bin, ["--log-dir", str(tmp_path / "file" / "logs"), "--retry", "1", "--retry-interval", "0",
                     "--status-file", str(st)], b"x\nyz\n")
    assert r.returncode == 1
    s = _status(st)
    assert (s["state"], s["bytes_dropped"], s["retries"], s["bytes_written"]) == ("exited 1", "5", "1", "0")
