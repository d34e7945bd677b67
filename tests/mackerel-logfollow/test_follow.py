"""The log follower against real files: appends, partial lines, rotations (rename + create, gzip
with and without delaycompress), truncation, copytruncate, regrow, inode reuse, over-long lines,
the max-read-size guard, locking between concurrent runs and SIGKILL during the state write."""
from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mackerel_logfollow.follow import Follower, FollowError, State, load_state, save_state


def read_run(log, state, **kw) -> tuple[list[bytes], Follower]:
    """One run: the lines read, committed."""
    with Follower(str(log), str(state), **kw) as f:
        data = b"".join(f.chunks())
        f.commit()
    assert data == b"" or data.endswith(b"\n")
    return (data.split(b"\n")[:-1] if data else []), f


class Log:
    """A log written by the test with numbered, unique lines."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        path.write_bytes(b"")

    def write(self, k: int, partial: bool = False) -> list[bytes]:
        lines = [f"line {self.n + i} {'x' * (self.n % 13)}".encode() for i in range(k)]
        self.n += k
        with open(self.path, "ab") as f:
            f.write(b"".join(x + b"\n" for x in lines))
        return lines


def test_append_and_partial_line_waits(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"one\ntwo\nthr")
    lines, f = read_run(log, st)
    assert lines == [b"one", b"two"]
    assert f.is_first_run and f.duration == 0
    assert load_state(str(st)).pos == 8
    with open(log, "ab") as fh:
        fh.write(b"ee\nfour\n")
    lines, f = read_run(log, st)
    assert lines == [b"three", b"four"]
    assert not f.is_first_run and f.duration > 0
    lines, _ = read_run(log, st)
    assert lines == []


def test_crlf_lines_are_passed_whole(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"a\r\nb\r\n")
    assert read_run(log, st)[0] == [b"a\r", b"b\r"]


def test_first_run_skip_starts_at_the_end(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"old\nold2\npart")
    assert read_run(log, st, first_run="skip")[0] == []
    with open(log, "ab") as fh:
        fh.write(b"ial\nnew\n")
    # the partial line that existed at the first run belongs to the new data
    assert read_run(log, st)[0] == [b"partial", b"new"]


def test_rotation_rename_and_create_reads_old_tail_then_new(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"1\n2\n")
    read_run(log, st)
    with open(log, "ab") as fh:
        fh.write(b"3\n4")          # the old file ends without a newline: still a line
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"5\n")
    lines, f = read_run(log, st)
    assert lines == [b"3", b"4", b"5"]
    assert any("rotated" in e for e in f.stats.events)


def test_rotation_to_gzip_without_delaycompress(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"1\n2\n")
    read_run(log, st)
    with open(log, "ab") as fh:
        fh.write(b"3\n4\n")
    with open(log, "rb") as src, gzip.open(tmp_path / "a.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(log)
    log.write_bytes(b"5\n")
    assert read_run(log, st)[0] == [b"3", b"4", b"5"]


def test_rotated_glob_finds_files_moved_elsewhere(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    (tmp_path / "old").mkdir()
    log.write_bytes(b"1\n")
    read_run(log, st)
    with open(log, "ab") as fh:
        fh.write(b"2\n")
    os.rename(log, tmp_path / "old" / "a.log-2026")
    log.write_bytes(b"3\n")
    assert read_run(log, st, rotated_glob=str(tmp_path / "old" / "a.log-*"))[0] == [b"2", b"3"]


def test_old_file_gone_reads_new_from_start(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"1\n")
    read_run(log, st)
    os.unlink(log)
    log.write_bytes(b"new\n")
    lines, f = read_run(log, st)
    assert lines == [b"new"]


def test_truncate_reads_from_start(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"aaaa\nbbbb\n")
    read_run(log, st)
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"c\n")
    assert read_run(log, st)[0] == [b"c"]


def test_truncate_and_regrow_past_the_old_position_is_detected(tmp_path):
    # upstream resumes mid-stream here and loses the first lines (spec section 5)
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"line one\nline two\n")
    read_run(log, st)
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"new 1\nnew 2\nnew 3\nnew 4\nnew 5\n")
    assert read_run(log, st)[0] == [b"new 1", b"new 2", b"new 3", b"new 4", b"new 5"]


def test_truncate_and_rewrite_to_the_same_size(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"abc\ndef\n")
    read_run(log, st)
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"xyz\nuvw\n")
    assert read_run(log, st)[0] == [b"xyz", b"uvw"]


def test_copytruncate_finishes_the_copy_then_the_file(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"1\n2\n")
    read_run(log, st)
    with open(log, "ab") as fh:
        fh.write(b"3\n4\n")
    shutil.copyfile(log, tmp_path / "a.log.1")
    with open(log, "r+b") as fh:
        fh.truncate(0)
    with open(log, "ab") as fh:
        fh.write(b"5\n6\n7\n8\n9\n")     # regrown past the old position too
    assert read_run(log, st)[0] == [b"3", b"4", b"5", b"6", b"7", b"8", b"9"]


def test_inode_reuse_is_told_apart_by_the_fingerprint(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"first file line\n")
    read_run(log, st)
    s = load_state(str(st))
    os.unlink(log)
    log.write_bytes(b"second file, longer line\nand more\n")
    # force "same inode and device" whatever the file system did
    ino, dev = os.stat(log).st_ino, os.stat(log).st_dev
    s.inode, s.dev = ino, dev
    save_state(str(st), s)
    assert read_run(log, st)[0] == [b"second file, longer line", b"and more"]


def test_device_renumbering_is_not_a_rotation(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"a\nb\n")
    read_run(log, st)
    s = load_state(str(st))
    s.dev += 12345
    save_state(str(st), s)
    with open(log, "ab") as fh:
        fh.write(b"c\n")
    lines, f = read_run(log, st)
    assert lines == [b"c"]
    assert any("device" in e for e in f.stats.events)


def test_overlong_lines_are_skipped_and_counted_never_wedging(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"ok1\n" + b"x" * 5000 + b"\nok2\n" + b"y" * 100 + b"\n")
    lines, f = read_run(log, st, max_line=1000, read_size=777)
    assert lines == [b"ok1", b"ok2", b"y" * 100]
    assert f.stats.lines_overlong == 1
    assert "byte 4" in f.stats.first_overlong
    with open(log, "ab") as fh:
        fh.write(b"ok3\n")
    assert read_run(log, st, max_line=1000)[0] == [b"ok3"]


def test_overlong_line_still_being_written(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"ok1\n" + b"z" * 3000)
    lines, f = read_run(log, st, max_line=1000)
    assert lines == [b"ok1"] and f.stats.lines_overlong == 1
    with open(log, "ab") as fh:
        fh.write(b"z" * 500 + b"\nok2\n")
    lines, f = read_run(log, st, max_line=1000)
    assert lines == [b"ok2"] and f.stats.lines_overlong == 0


@pytest.mark.parametrize("read_size", [7, 64, 4 << 20])
def test_overlong_detection_matches_a_reference(tmp_path, read_size):
    rnd = random.Random(read_size)
    lens = [rnd.choice([0, 1, 5, 99, 100, 101, 250]) for _ in range(300)]
    data = b"".join(bytes([97 + i % 26]) * n + b"\n" for i, n in enumerate(lens))
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(data)
    lines, f = read_run(log, st, max_line=100, read_size=read_size)
    assert lines == [ln for ln in data.splitlines() if len(ln) <= 100]
    assert f.stats.lines_overlong == sum(1 for n in lens if n > 100)


def test_max_read_size_skips_and_reports(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"a\n")
    read_run(log, st)
    with open(log, "ab") as fh:
        fh.write(b"b" * 100 + b"\n" + b"c\n" + b"part")
    lines, f = read_run(log, st, max_read_size=50)
    assert lines == []
    assert f.stats.skipped_bytes == 103
    assert any("max-read-size" in e for e in f.stats.events)
    with open(log, "ab") as fh:
        fh.write(b"ial\n")
    assert read_run(log, st, max_read_size=50)[0] == [b"partial"]


def test_missing_log_and_corrupt_state_are_errors(tmp_path):
    with pytest.raises(FollowError, match="No such file"):
        read_run(tmp_path / "nope.log", tmp_path / "state")
    (tmp_path / "a.log").write_bytes(b"x\n")
    (tmp_path / "state").write_bytes(b'{"pos": tru')
    with pytest.raises(FollowError, match="corrupt"):
        read_run(tmp_path / "a.log", tmp_path / "state")
    # an empty state file (a torn write of the upstream tool) is "no state"
    (tmp_path / "state").write_bytes(b"")
    assert read_run(tmp_path / "a.log", tmp_path / "state")[0] == [b"x"]


def test_nothing_saved_without_commit(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"a\nb\n")
    with Follower(str(log), str(st)) as f:
        assert b"".join(f.chunks()) == b"a\nb\n"
    assert not st.exists()
    assert read_run(log, st)[0] == [b"a", b"b"]


def test_legacy_upstream_state_is_continued(tmp_path):
    log, st, legacy = tmp_path / "a.log", tmp_path / "state", tmp_path / "0-axslog-v5-demo-0"
    log.write_bytes(b"old\nnew\n")
    s = os.stat(log)
    legacy.write_text(json.dumps({"pos": 4, "time": int(time.time()) - 60, "inode": s.st_ino, "dev": s.st_dev}))
    lines, f = read_run(log, st, legacy_state_paths=[str(legacy)])
    assert lines == [b"new"]
    assert 59 <= f.duration <= 70


def test_state_write_is_atomic_and_fsynced(tmp_path):
    st = tmp_path / "state"
    save_state(str(st), State(pos=5, time=1.5, inode=1, dev=2, size=5, fp="ab", fp_len=3))
    assert load_state(str(st)) == State(pos=5, time=1.5, inode=1, dev=2, size=5, fp="ab", fp_len=3)
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


SAVER = textwrap.dedent("""
    import sys
    from mackerel_logfollow.follow import State, save_state
    i = 0
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    while True:
        i += 1
        save_state(sys.argv[1], State(pos=i, time=float(i), inode=i, dev=i, size=i, fp="f" * (i % 50), fp_len=i))
""")


def test_sigkill_during_state_writes_leaves_old_or_new(tmp_path):
    st = tmp_path / "state"
    save_state(str(st), State(pos=0))
    rnd = random.Random(3)
    for _k in range(15):
        p = subprocess.Popen([sys.executable, "-c", SAVER, str(st)], stdout=subprocess.PIPE)
        p.stdout.readline()
        time.sleep(rnd.uniform(0.0, 0.05))
        p.send_signal(signal.SIGKILL)
        p.wait()
        s = load_state(str(st))          # never torn: parses, and is self-consistent
        assert s is not None and s.pos == s.inode == s.size
    # stale temp files of killed writers are removed by the next run holding the lock
    log = tmp_path / "a.log"
    log.write_bytes(b"x\n")
    os.unlink(st)
    read_run(log, st)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "state", "state.lock"]


READER = textwrap.dedent("""
    import sys
    from mackerel_logfollow.follow import Follower
    with Follower(sys.argv[1], sys.argv[2], lock_timeout=60) as f:
        n = sum(c.count(b"\\n") for c in f.chunks())
        sys.stdout.write(f"{n}\\n"); sys.stdout.flush()
        f.commit()
""")


def test_concurrent_runs_never_count_a_range_twice(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    lg = Log(log)
    total = 0
    for _rnd in range(5):
        lg.write(2000)
        procs = [subprocess.Popen([sys.executable, "-c", READER, str(log), str(st)], stdout=subprocess.PIPE)
                 for _ in range(4)]
        outs = [int(p.communicate(timeout=60)[0]) for p in procs]
        assert all(p.returncode == 0 for p in procs)
        assert sorted(outs)[:-1] == [0, 0, 0]     # one run read it, the others found nothing new
        total += sum(outs)
    assert total == lg.n


def test_first_run_skip_inside_an_overlong_line(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"a\n" + b"x" * 3000)
    assert read_run(log, st, first_run="skip", max_line=1000)[0] == []
    with open(log, "ab") as fh:
        fh.write(b"xx\nnext\n")
    # the rest of the long line is not taken for a line of its own
    assert read_run(log, st, max_line=1000)[0] == [b"next"]


def test_legacy_state_of_another_file_is_ignored(tmp_path):
    log, other, st, legacy = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "state", tmp_path / "legacy"
    log.write_bytes(b"1\n2\n")
    other.write_bytes(b"x\n")
    s = os.stat(other)
    legacy.write_text(json.dumps({"pos": 2, "time": int(time.time()) - 60, "inode": s.st_ino, "dev": s.st_dev}))
    lines, f = read_run(log, st, legacy_state_paths=[str(legacy)])
    assert lines == [b"1", b"2"] and f.is_first_run


def test_two_rotations_between_runs_read_the_middle_file(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"1\n2\n")
    read_run(log, st)
    with open(log, "ab") as fh:
        fh.write(b"3\n")
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"4\n5\n")                       # rotated again before the next run
    os.rename(tmp_path / "a.log.1", tmp_path / "a.log.2")
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"6\n")
    (tmp_path / "other.log").write_bytes(b"not ours\n")
    lines, f = read_run(log, st)
    assert lines == [b"3", b"4", b"5", b"6"]
    # the next rotation (delaycompress: the old .1 compressed now) reads nothing twice
    with open(log, "ab") as fh:
        fh.write(b"7\n")
    with open(tmp_path / "a.log.1", "rb") as src, gzip.open(tmp_path / "a.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(tmp_path / "a.log.2")
    os.rename(tmp_path / "a.log.1", tmp_path / "a.log.3")
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"8\n")
    assert read_run(log, st)[0] == [b"7", b"8"]


def test_three_rotations_with_compression_between_runs(tmp_path):
    log, st = tmp_path / "a.log", tmp_path / "state"
    log.write_bytes(b"0\n")
    read_run(log, st)
    os.rename(log, tmp_path / "a.log.1")            # one rotation handled: fingerprints known
    log.write_bytes(b"1\n")
    assert read_run(log, st)[0] == [b"1"]
    for k in (2, 3, 4):                              # three rotations, no delaycompress
        with open(log, "rb") as src, gzip.open(tmp_path / f"a.log.{k}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(log)
        log.write_bytes(f"{k}\n".encode())
    assert read_run(log, st)[0] == [b"2", b"3", b"4"]


def _reference_runs(appends: list[bytes], max_line: int) -> tuple[list[bytes], int]:
    """What a series of runs must return: the complete lines of the whole file up to max_line
    bytes, and the number of longer lines (the file ends with a newline)."""
    data = b"".join(appends)
    lines = data.split(b"\n")[:-1]
    return [ln for ln in lines if len(ln) <= max_line], sum(1 for ln in lines if len(ln) > max_line)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), read_size=st.sampled_from([1, 2, 3, 7, 16, 64, 100, 4096]),
       max_line=st.sampled_from([1, 5, 20, 64, 1 << 20]), blocks=st.booleans())
def test_reused_buffer_reads_equal_the_reference_across_runs(tmp_path, data, read_size, max_line, blocks):
    # the reading buffer is reused across reads (carry moved to its front): lines, over-long
    # counts and positions must be those of the whole file however reads and appends cut it
    lens = data.draw(st.lists(st.sampled_from([0, 1, 4, 5, 6, 19, 20, 21, 63, 64, 65, 200]),
                              min_size=1, max_size=40))
    text = b"".join(bytes([97 + i % 26]) * n + b"\n" for i, n in enumerate(lens))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=5)))
    appends = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    d = tempfile.mkdtemp(dir=tmp_path)
    log, state = os.path.join(d, "a.log"), os.path.join(d, "state")
    got, over = [], 0
    for part in appends:
        with open(log, "ab") as fh:
            fh.write(part)
        with Follower(str(log), str(state), max_line=max_line, read_size=read_size) as f:
            if blocks:          # the buffer itself: a newline before each block, lines in it
                for buf, s, e in f.blocks():
                    assert 0 < s < e <= len(buf) and buf[s - 1] == 10 and buf[e - 1] == 10
                    got += bytes(buf[s:e]).split(b"\n")[:-1]
            else:
                for chunk in f.chunks():
                    assert type(chunk) is bytes and chunk.endswith(b"\n")
                    got += chunk.split(b"\n")[:-1]
            f.commit()
        over += f.stats.lines_overlong
    want, want_over = _reference_runs(appends, max_line)
    assert got == want
    assert over == want_over
    assert load_state(str(state)).pos == len(text)
