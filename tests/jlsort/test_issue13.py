"""Issue 13: never lose a line, never touch what the user did not ask for, one notion of equal
keys in jlsort, jljoin and jluniq. Each test failed on the code before the fix."""
from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import threading

import pytest


def nd(*objs) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


ODD = [
    b'{"k":"\\ud800"}',            # a lone surrogate escape: jq reads it as U+FFFD
    b'\xef\xbb\xbf{"k":"bom"}',    # a BOM before the object
    b'{"k":"\xff\xfe"}',           # invalid UTF-8 inside a string: U+FFFD for jq
    b'not json',                   # really not JSON
    b'{"k":"a"}\r',                # CRLF
    b'{"k":',                      # truncated
]


# -- 1. never drop a line ----------------------------------------------------------------------
def test_odd_lines_are_kept_unchanged_and_really_not_json_sorts_as_missing(jlsort):
    data = b"\n".join([b'{"k":"b"}'] + ODD) + b"\n"
    r = jlsort("-k", "k", stdin=data)
    assert r.rc == 0, r
    lines = r.out.split(b"\n")[:-1]
    assert sorted(lines) == sorted(data.split(b"\n")[:-1])  # a permutation of the input
    # the two lines that are not JSON first (as a missing key), then the strings by code point:
    # "a" < "b" < "bom" < U+FFFD (the surrogate and the invalid UTF-8, in input order)
    assert lines == [b"not json", b'{"k":', b'{"k":"a"}\r', b'{"k":"b"}',
                       b'\xef\xbb\xbf{"k":"bom"}', b'{"k":"\\ud800"}', b'{"k":"\xff\xfe"}']
    assert "2 invalid line(s) kept, sorted as lines without the key (first: -:5)" in r.err
    r = jlsort("-k", "k", "--missing", "last", stdin=data)
    assert r.out.split(b"\n")[-3:] == [b"not json", b'{"k":', b""]


def test_lone_surrogate_equals_the_replacement_character_as_in_jq(jlsort, jluniq):
    data = b'{"k":"\\ud800"}\n{"k":"\\ufffd"}\n{"k":"\\udc00x"}\n'
    r = jlsort("-k", "k", "-u", stdin=data)
    assert r.lines == [b'{"k":"\\ud800"}', b'{"k":"\\udc00x"}']
    r = jluniq("-k", "k", "-c", stdin=data)
    assert r.lines == ['["\ufffd",2]'.encode(), '["\ufffdx",1]'.encode()]


def test_output_into_an_input_keeps_every_line(jlsort, tmp_path):
    f = tmp_path / "x"
    data = b'{"k":2}\n' + b"\n".join(ODD) + b'\n{"k":1}\n'
    f.write_bytes(data)
    r = jlsort("-k", "k", "-o", f, f)
    assert r.rc == 0
    assert sorted(f.read_bytes().splitlines()) == sorted(data.splitlines())


def test_strict_fails_before_writing_anything(jlsort, tmp_path):
    data = b'{"k":2}\nnot json\n{"k":1}\n'
    r = jlsort("-k", "k", "--strict", stdin=data)
    assert r.rc == 1 and r.out == b"" and "-:2: invalid JSON" in r.err
    out = tmp_path / "out"
    out.write_bytes(b"keep\n")
    assert jlsort("-k", "k", "--strict", "-o", out, stdin=data).rc == 1
    assert out.read_bytes() == b"keep\n"
    # -m too: the merge goes through a run first
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(nd({"k": 1}, {"k": 3}))
    n = 500_000  # more than one block (4 MiB) before the bad line
    b.write_bytes(b"".join(b'{"k":%d}\n' % i for i in range(n)) + b"not json\n")
    r = jlsort("-k", "k", "-m", "--strict", a, b)
    assert r.rc == 1 and r.out == b"" and f"{b}:{n + 1}: invalid JSON" in r.err


# -- 2. -o like sort -o ------------------------------------------------------------------------
def test_output_to_a_fifo_is_written_not_replaced(script, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = subprocess.run([script("jlsort"), "-k", "k", "-o", fifo], input=nd({"k": 2}, {"k": 1}),
                       capture_output=True, timeout=60)
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert got == [nd({"k": 1}, {"k": 2})]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_output_to_dev_stdout_and_dev_fd(script, tmp_path):
    data = nd({"k": 2}, {"k": 1})
    r = subprocess.run([script("jlsort"), "-k", "k", "-o", "/dev/stdout"], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == nd({"k": 1}, {"k": 2})
    rfd, wfd = os.pipe()
    try:
        p = subprocess.run([script("jlsort"), "-k", "k", "-o", f"/dev/fd/{wfd}"], input=data,
                           capture_output=True, timeout=60, pass_fds=[wfd])
        os.close(wfd)
        wfd = -1
        assert p.returncode == 0, p.stderr
        assert os.read(rfd, 1000) == nd({"k": 1}, {"k": 2})
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)


def test_output_to_a_device_like_path_through_a_pty(script):
    import pty
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    try:
        r = subprocess.run([script("jlsort"), "-k", "k", "-o", name], input=nd({"k": 2}, {"k": 1}),
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert stat.S_ISCHR(os.stat(name).st_mode)
        out = b""
        while b'{"k":2}' not in out:
            out += os.read(master, 1000)
        assert out.replace(b"\r\n", b"\n") == nd({"k": 1}, {"k": 2})
    finally:
        os.close(master)
        os.close(slave)


def test_output_regular_file_written_in_place(jlsort, tmp_path):
    out = tmp_path / "out"
    out.write_bytes(b"old contents that are longer\n")
    link = tmp_path / "hardlink"
    os.link(out, link)
    ino = out.stat().st_ino
    r = jlsort("-k", "k", "-o", out, stdin=nd({"k": 2}, {"k": 1}))
    assert r.rc == 0
    assert out.stat().st_ino == ino and link.read_bytes() == nd({"k": 1}, {"k": 2})
    r = jlsort("-k", "k", "-o", out, stdin=b"")  # empty input: truncated, as sort -o
    assert r.rc == 0 and out.read_bytes() == b""


def test_output_to_a_directory(jlsort, tmp_path):
    r = jlsort("-k", "k", "-o", tmp_path, stdin=nd({"k": 1}))
    assert r.rc == 1 and r.err.strip() == f"jlsort: {tmp_path}: Is a directory"


# -- 3. any number of inputs under a small descriptor limit -----------------------------------
def test_many_inputs_under_a_small_ulimit(script, tmp_path):
    names = []
    for i in range(300):
        p = tmp_path / f"f{i:03d}"
        p.write_bytes(nd({"a": (i * 7919) % 300, "i": i}))
        names.append(p.name)

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    def run(*args):
        return subprocess.run([script("jlsort"), *args], cwd=tmp_path, capture_output=True,
                              preexec_fn=limit, timeout=120)
    want = sorted((i * 7919) % 300 for i in range(300))
    for args in (["-k", "a"], ["-k", "a", "-c", "1k"], ["-k", "a", "--parallel", "2", "-c", "1k"],
                 ["-k", "a", "-m"]):
        r = run(*args, *names)
        assert r.returncode == 0, (args, r.stderr)
        assert [json.loads(x)["a"] for x in r.stdout.splitlines()] == want, args
    r = run("-k", "a", "-o", names[0], *names)
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / names[0]).read_bytes().splitlines()) == 300


# -- 4. unknown key flags ----------------------------------------------------------------------
@pytest.mark.parametrize("tool", ["jlsort", "jljoin", "jluniq"])
def test_unknown_key_flag_is_a_usage_error(jlsort, jljoin, jluniq, tool, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(nd({"salary": 2}, {"salary": 1}))
    run = {"jlsort": jlsort, "jljoin": jljoin, "jluniq": jluniq}[tool]
    r = run("-k", "salary:nr", f, f) if tool == "jljoin" else run("-k", "salary:nr", f)
    assert r.rc == 2 and r.out == b""
    assert f"{tool}: error: unknown flag 'nr' in key 'salary:nr'" in r.err
    assert "valid flags: n " in r.err and "r (rev" in r.err


# -- 5. -n with numeric strings -----------------------------------------------------------------
def test_numeric_sort_reads_numeric_strings(jlsort):
    r = jlsort("-k", "t", "-n", stdin=nd({"t": "10.5"}, {"t": 9}, {"t": "x"}, {"t": "2"}, {"t": 3}))
    assert [json.loads(x)["t"] for x in r.lines] == ["2", 3, 9, "10.5", "x"]


# -- 6. a bad temporary directory ----------------------------------------------------------------
def test_bad_tmpdir_is_an_error_not_a_fall_back(script, tmp_path):
    data = nd(*({"k": i} for i in range(2000)))
    env = dict(os.environ, TMPDIR=str(tmp_path / "nonexist"))
    r = subprocess.run([script("jlsort"), "-k", "k", "-c", "8K"], input=data, env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and r.stdout == b""
    assert (f"jlsort: cannot create a temporary file in '{tmp_path / 'nonexist'}': "
            "No such file or directory") in r.stderr.decode()
    r = subprocess.run([script("jlsort"), "-k", "k", "-c", "8K", "-T", tmp_path / "nope"],
                       input=data, capture_output=True, timeout=60)
    assert r.returncode == 1 and f"'{tmp_path / 'nope'}'" in r.stderr.decode()


# -- 7. one notion of equal keys ---------------------------------------------------------------
def test_sort_then_uniq_prints_no_duplicate_groups(jlsort, jluniq):
    data = nd({"s": 200}, {"s": 100}, {"s": 200.0}, {"s": 200}, {"s": 2e2})
    r = jlsort("-k", "s", stdin=data)
    u = jluniq("-k", "s", "-c", stdin=r.out)
    assert u.lines == [b"[100,1]", b"[200,4]"]


def test_join_equality_is_the_same(jljoin, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(nd({"id": 200, "a": 1}))
    b.write_bytes(nd({"id": 200.0, "b": 1}, {"id": "200", "b": 2}))
    assert len(jljoin("-k", "id", a, b).lines) == 1
    assert len(jljoin("-k", "id:n", a, b).lines) == 2  # "200" is 200 under n, as in jlsort


# -- 8. jljoin takes jlsort's key syntax and flags -----------------------------------------------
def test_join_descending_key(jlsort, jljoin, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(jlsort("-k", "id:r", stdin=nd({"id": 1, "a": 1}, {"id": 3, "a": 3}, {"id": 2, "a": 2})).out)
    b.write_bytes(jlsort("-k", "id:r", stdin=nd({"id": 2, "b": 2}, {"id": 3, "b": 3})).out)
    assert jlsort("-k", "id:r", "--check", a).rc == 0
    r = jljoin("-k", "id:r", a, b)
    assert r.rc == 0, r
    assert [json.loads(x)[0]["id"] for x in r.lines] == [3, 2]
    r = jljoin("-r", "-k", "id", a, b)
    assert r.rc == 0 and len(r.lines) == 2
    r = jljoin("-1", "id:r", "-2", "id", a, b)
    assert r.rc == 2 and "same direction" in r.err


# -- 9. -v 1 -v 2, -a with -v ------------------------------------------------------------------
def test_join_v_both_and_a_with_v(jljoin, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(nd({"k": 1, "a": 1}, {"k": 2, "a": 2}))
    b.write_bytes(nd({"k": 2, "b": 2}, {"k": 3, "b": 3}))
    both = [b'{"k":1,"a":1}', b'{"k":3,"b":3}']
    assert jljoin("-k", "k", "-v", "1", "-v", "2", a, b).lines == both
    assert jljoin("-k", "k", "-v", "1", "-a", "2", a, b).lines == both
    assert jljoin("-k", "k", "-v", "2", a, b).lines == [b'{"k":3,"b":3}']


# -- 10. jluniq speaks of what jluniq does ---------------------------------------------------------
def test_uniq_warnings_in_its_own_words(jluniq):
    data = b'{"k":1}\n{"x":1}\nnot json\n'
    r = jluniq("-k", "k", stdin=data)
    assert "1 line(s) without key 'k' skipped" in r.err and "1 invalid line(s) skipped" in r.err
    r = jluniq("-k", "k", "--allow-no-key", stdin=data)
    assert "1 line(s) without key 'k' counted as null" in r.err
    assert "1 invalid line(s) counted as null" in r.err
    assert "sorted" not in r.err


# -- 11. -f in all three -------------------------------------------------------------------------
def test_ignore_case_the_same_way_in_all_three(jlsort, jluniq, jljoin, tmp_path):
    data = nd({"s": "b"}, {"s": "B"}, {"s": "a"}, {"s": "_"}, {"s": "A"})
    r = jlsort("-f", "-k", "s", stdin=data)
    # folded to upper case, as sort -f: A a B b _ (ties in input order)
    assert [json.loads(x)["s"] for x in r.lines] == ["a", "A", "b", "B", "_"]
    assert jlsort("-k", "s:f", stdin=data).out == r.out
    assert jlsort("-k", "s:f", "-u", stdin=data).lines == [b'{"s":"a"}', b'{"s":"b"}', b'{"s":"_"}']
    assert jluniq("-f", "-k", "s", "-c", stdin=r.out).lines == [b'["a",2]', b'["b",2]', b'["_",1]']
    assert jluniq("-k", "s:f", "-c", stdin=r.out).lines == [b'["a",2]', b'["b",2]', b'["_",1]']
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(r.out)
    b.write_bytes(nd({"s": "A", "t": 1}, {"s": "b", "t": 2}))
    assert len(jljoin("-f", "-k", "s", a, b).lines) == 4
    assert len(jljoin("-i", "-k", "s", a, b).lines) == 4


def test_join_output_of_lines_read_as_jq_reads_them(jljoin, tmp_path):
    # a BOM line and a lone surrogate: -m was a traceback, and [line1,line2] copied the BOM into
    # the array (not JSON)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b'\xef\xbb\xbf{"k":1,"a":"\\ud800"}\n')
    b.write_bytes(b'{"k":1,"b":2}\n')
    r = jljoin("-k", "k", "-m", "1", a, b)
    assert r.rc == 0 and json.loads(r.out) == {"a": "\ufffd", "b": 2, "k": 1}
    r = jljoin("-k", "k", a, b)
    assert r.rc == 0 and r.out == b'[{"k":1,"a":"\\ud800"},{"k":1,"b":2}]\n'
