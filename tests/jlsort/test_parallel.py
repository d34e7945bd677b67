"""--parallel N: forked workers over byte ranges of regular files.

Output identical to one process (stable), in memory and through forced external sorts; ranges
cut at line starts with the real line numbers; messages from later ranges name the real line;
signals leave no temporary file and no worker process.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import SPECS, argv_of, records, reference, to_lines


def _default_sigint():
    """preexec_fn: SIGINT at its default in the child (a test run from a background job of a
    shell without job control inherits SIG_IGN, which Python keeps: no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def pids(monkeypatch):
    """The pids of the workers jlsort.parallel forks (the list fills as it forks)."""
    import jlsort.parallel as par
    pids = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid
    monkeypatch.setattr(par.os, "fork", fork)
    return pids


@pytest.fixture
def tiny_ranges(monkeypatch):
    """Workers even for inputs of a few bytes (the default needs 1 MiB per worker)."""
    import jlsort.parallel as par
    monkeypatch.setattr(par, "MIN_BYTES_PER_WORKER", 1)
    return par


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# -- the plan: ranges -------------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(files=st.lists(st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x")),
                               max_size=12), min_size=1, max_size=3),
       finals=st.lists(st.booleans(), min_size=3, max_size=3), n=st.integers(2, 5))
def test_plan_cuts_at_line_starts_with_the_real_line_numbers(tmp_path_factory, files, finals, n):
    from jlsort.parallel import RangeReader, plan
    d = tmp_path_factory.mktemp("plan")
    srcs = []
    for i, lines in enumerate(files):
        data = b"\n".join(lines) + (b"\n" if lines and finals[i] else b"")
        p = d / f"f{i}"
        p.write_bytes(data)
        srcs.append((str(p), open(p, "rb", buffering=0)))
    try:
        workers = plan(srcs, n, min_bytes=1)
        total = sum(len(p.read_bytes()) for p in d.iterdir())
        if workers is None:
            assert total < 2
            return
        assert 2 <= len(workers) <= n
        # the segments, in order, are each file exactly once, cut only at line starts
        got = {name: b"" for name, _ in srcs}
        for segs in workers:
            for name, fd, start, end, lineno0 in segs:
                whole = open(name, "rb").read()
                assert start in (0, len(whole)) or whole[start - 1:start] == b"\n"
                assert (lineno0() if callable(lineno0) else lineno0) == whole[:start].count(b"\n")
                assert start == len(got[name])
                r = RangeReader(fd, start, end)
                chunk = b""
                while part := r.read(5):
                    chunk += part
                got[name] += chunk
        for name, _ in srcs:
            assert got[name] == open(name, "rb").read()
    finally:
        for _, f in srcs:
            f.close()


# -- output identical to one process ----------------------------------------------------------
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records, spec=st.sampled_from(SPECS), nfiles=st.integers(1, 3), par=st.integers(2, 4),
       no_final_nl=st.booleans())
def test_parallel_output_is_the_one_process_output(jlsort, tiny_ranges, tmp_path_factory, recs, spec,
                                                   nfiles, par, no_final_nl):
    keys, ref_specs = spec
    lines = to_lines(recs, False)
    d = tmp_path_factory.mktemp("par")
    paths = []
    per = -(-len(lines) // nfiles) if lines else 1
    for i in range(nfiles):
        chunk = lines[i * per:(i + 1) * per]
        p = d / f"in{i}.ndjson"
        last = no_final_nl and i == nfiles - 1
        p.write_bytes(b"\n".join(chunk) + (b"\n" if chunk and not last else b""))
        paths.append(p)
    argv = argv_of(keys)
    one = jlsort(*argv, "--parallel", "1", *paths)
    assert one.rc == 0, one
    assert one.lines == reference(lines, ref_specs)
    r = jlsort(*argv, "--parallel", par, *paths)
    assert (r.rc, r.out, r.err) == (one.rc, one.out, one.err)
    # forced external in each worker: many runs, fan-in 3, so runs are merged in several levels
    import jlsort.sort as sortmod
    old = sortmod.FANIN
    sortmod.FANIN = 3
    try:
        r = jlsort(*argv, "--parallel", par, "-c", "300", *paths)
    finally:
        sortmod.FANIN = old
    assert (r.rc, r.out) == (0, one.out), r
    r = jlsort(*argv, "--parallel", par, "-u", *paths)
    assert r.out == jlsort(*argv, "-u", *paths).out


def test_parallel_really_forks_workers(jlsort, tiny_ranges, tmp_path, pids):
    p = tmp_path / "in.ndjson"
    p.write_bytes(b"".join(b'{"k":%d}\n' % (i % 7) for i in range(1000)))
    r = jlsort("-k", "k", "--parallel", "3", p)
    assert r.rc == 0
    assert r.lines == sorted(p.read_bytes().splitlines(), key=lambda x: json.loads(x)["k"])
    assert len(pids) == 2  # the parent sorts the first range itself
    pids.clear()
    r = jlsort("-k", "k", "--parallel", "3", stdin=p.read_bytes())  # stdin: one process
    assert r.rc == 0 and pids == []
    r = jlsort("-k", "k", p)  # default: one process
    assert r.rc == 0 and pids == []


def test_default_threshold_keeps_small_inputs_in_one_process(jlsort, tmp_path, monkeypatch):
    import jlsort.parallel as par
    called = []
    monkeypatch.setattr(par, "generate", lambda *a: called.append(1))
    p = tmp_path / "in.ndjson"
    p.write_bytes(b'{"k":2}\n{"k":1}\n')
    r = jlsort("-k", "k", "--parallel", "2", p)
    assert (r.rc, r.out, called) == (0, b'{"k":1}\n{"k":2}\n', [])


# -- messages from later ranges ---------------------------------------------------------------
def _lines_file(tmp_path, n=4000, bad=()):
    p = tmp_path / "in.ndjson"
    out = []
    for i in range(1, n + 1):
        out.append(bad[i] if i in bad else json.dumps({"k": (i * 7919) % 1000, "i": i}).encode())
    p.write_bytes(b"\n".join(out) + b"\n")
    return p


def test_invalid_line_in_a_later_range_has_its_real_line_number(jlsort, tiny_ranges, tmp_path):
    p = _lines_file(tmp_path, bad={3500: b"{oops", 3700: b"[1,"})
    r = jlsort("-k", "k", "--parallel", "4", p)
    one = jlsort("-k", "k", p)
    assert r.rc == 0
    assert f"{p}:3500: invalid JSON" in r.err
    assert "2 invalid line(s) kept" in r.err and f"(first: {p}:3500)" in r.err
    assert r.err.count("invalid JSON") == 1  # one warning, as with one process
    assert (r.out, r.err) == (one.out, one.err)
    r = jlsort("-k", "k", "--parallel", "4", "--strict", p)
    assert r.rc == 1
    assert f"{p}:3500: invalid JSON" in r.err
    assert r.out == b""


def test_the_earliest_error_wins_across_ranges(jlsort, tiny_ranges, tmp_path):
    p = _lines_file(tmp_path, bad={1500: b'{"x":1}', 3900: b'{"y":1}'})
    r = jlsort("-k", "k", "--missing", "error", "--parallel", "3", p)
    assert r.rc == 1
    assert f"{p}:1500: no key 'k'" in r.err
    assert ":3900:" not in r.err
    r = jlsort("-k", "k", "--parallel", "3", p)
    assert r.rc == 0
    assert f"2 line(s) without key 'k' sorted as missing (first: {p}:1500)" in r.err


def test_second_file_line_numbers_and_unreadable_file(jlsort, tiny_ranges, tmp_path):
    a = tmp_path / "a.ndjson"
    a.write_bytes(b"".join(b'{"k":%d}\n' % i for i in range(300)))
    b = tmp_path / "b.ndjson"
    b.write_bytes(b"".join(b'{"k":%d}\n' % i for i in range(200)) + b"nope\n" + b'{"k":-1}')
    r = jlsort("-k", "k", "--parallel", "3", a, tmp_path / "missing", b)
    assert r.rc == 1
    assert f"jlsort: {tmp_path / 'missing'}: No such file or directory" in r.err
    assert f"{b}:201: invalid JSON" in r.err
    assert r.lines[:2] == [b"nope", b'{"k":-1}'] and len(r.lines) == 502


# -- signals and processes --------------------------------------------------------------------
@pytest.fixture(scope="module")
def mid_input(tmp_path_factory):
    p = tmp_path_factory.mktemp("mid") / "mid.ndjson"
    rnd = random.Random(3)
    pad = "y" * 50
    with open(p, "w") as f:
        for c in range(12):
            f.write("".join(f'{{"k": "{rnd.randrange(10 ** 6):06d}", "i": {c * 10000 + i}, '
                            f'"pad": "{pad}"}}\n' for i in range(10000)))
    return p


def test_parallel_external_output_matches_one_process(script, mid_input, tmp_path):
    a = subprocess.run([script("jlsort"), "-k", "k", "-c", "1m", "--parallel", "2", mid_input],
                       capture_output=True, check=True)
    b = subprocess.run([script("jlsort"), "-k", "k", "-c", "1m", mid_input], capture_output=True,
                       check=True)
    assert a.stdout == b.stdout
    assert len(a.stdout.splitlines()) == 120000


def _start(script, mid_input, tdir, out):
    p = subprocess.Popen([script("jlsort"), "-k", "k", "-c", "128k", "--parallel", "3", "-T", tdir,
                          "-o", out, mid_input], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=_default_sigint)
    workers = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        workers = _children(p.pid)
        if len(workers) == 2:
            if all(any(_link(f"/proc/{w}/fd/{fd}").startswith(str(tdir))
                       for fd in _safe_listdir(f"/proc/{w}/fd")) for w in workers):
                break
        time.sleep(0.02)
    assert p.poll() is None and len(workers) == 2, "both workers were writing runs"
    return p, workers


def _link(p):
    try:
        return os.readlink(p)
    except OSError:
        return ""


def _safe_listdir(d):
    try:
        return os.listdir(d)
    except OSError:
        return []


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_parallel_sort_leaves_no_temp_file_and_no_worker(script, mid_input, tmp_path,
                                                                     sig, code):
    tdir = tmp_path / "tmp"
    tdir.mkdir()
    out = tmp_path / "out" / "sorted.ndjson"
    out.parent.mkdir()
    p, workers = _start(script, mid_input, tdir, out)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert b"Traceback" not in err
    assert not any(_alive(w) for w in workers)
    assert list(tdir.iterdir()) == []
    assert list(out.parent.iterdir()) == []


def test_kill_9_of_the_parent_kills_the_workers(script, mid_input, tmp_path):
    tdir = tmp_path / "tmp"
    tdir.mkdir()
    p, workers = _start(script, mid_input, tdir, tmp_path / "o.ndjson")
    for w in workers:  # stopped: they can neither finish nor notice anything by themselves
        os.kill(w, signal.SIGSTOP)
    try:
        p.kill()
        p.communicate(timeout=60)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
        assert list(tdir.iterdir()) == []
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_a_worker_killed_is_an_error_not_a_short_output(script, mid_input, tmp_path):
    tdir = tmp_path / "tmp"
    tdir.mkdir()
    out = tmp_path / "o.ndjson"
    p, workers = _start(script, mid_input, tdir, out)
    os.kill(workers[1], signal.SIGKILL)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert b"worker" in err and b"Traceback" not in err
    assert not out.exists()


def test_default_is_parallel_only_for_an_input_larger_than_the_capacity(jlsort, tmp_path, pids,
                                                                        monkeypatch):
    import jlsort.parallel as par
    monkeypatch.setattr(par, "default_workers", lambda: 2)
    p = tmp_path / "in.ndjson"
    rnd = random.Random(2)
    p.write_bytes(b"".join(b'{"k":%d,"pad":"%s"}\n' % (rnd.randrange(10 ** 6), b"z" * 40)
                           for _ in range(50000)))  # about 3 MB
    expected = jlsort("-k", "k", "--parallel", "1", "-c", "1m", p)
    assert pids == []
    r = jlsort("-k", "k", "-c", "1m", p)  # external: workers by default
    assert (r.rc, r.out) == (0, expected.out)
    assert len(pids) == 1  # and the parent
    pids.clear()
    r = jlsort("-k", "k", "-c", "64m", p)  # fits in memory: one process
    assert (r.rc, r.out, pids) == (0, expected.out, [])


def test_unusable_temp_dir_in_workers_is_a_clear_error(jlsort, tiny_ranges, tmp_path):
    p = tmp_path / "in.ndjson"
    p.write_bytes(b"".join(b'{"k":%d}\n' % (i % 13) for i in range(3000)))
    r = jlsort("-k", "k", "-c", "1k", "--parallel", "2", "-T", tmp_path / "nope", p)
    assert r.rc == 1
    assert f"jlsort: cannot create a temporary file in '{tmp_path / 'nope'}'" in r.err
    assert r.out == b""
