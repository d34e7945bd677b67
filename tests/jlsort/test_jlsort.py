"""jlsort through its command line: drop-in flags, the documented order, upstream bugs fixed."""
from __future__ import annotations

import gzip
import json

import pytest
from support.ttys import read_pty


def nd(*objs) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


def ks(res, key="k"):
    return [json.loads(line).get(key, "<missing>") for line in res.lines]


# -- upstream-compatible basics ---------------------------------------------------------------
def test_sorts_by_key_and_keeps_input_bytes(jlsort):
    data = b'{"k": "b",  "x":1}\n{"k":"a"}\n{ "k" : "c" }\n'
    r = jlsort("-k", "k", stdin=data)
    assert r.rc == 0, r
    assert r.out == b'{"k":"a"}\n{"k": "b",  "x":1}\n{ "k" : "c" }\n'


def test_file_argument_and_dash(jlsort, tmp_path):
    f = tmp_path / "in.ndjson"
    f.write_bytes(nd({"k": 2}, {"k": 1}))
    assert jlsort("-k", "k", f).out == nd({"k": 1}, {"k": 2})
    assert jlsort("--key", "k", "-", stdin=f.read_bytes()).out == nd({"k": 1}, {"k": 2})
    assert jlsort("--key=k", "-r", f).out == nd({"k": 2}, {"k": 1})


def test_no_arguments_prints_usage_exit_0(jlsort):
    r = jlsort()
    assert r.rc == 0 and b"usage: jlsort" in r.out


def test_version_flags(jlsort):
    for flag in ("-v", "--version"):
        r = jlsort(flag)
        assert r.rc == 0 and r.out.startswith(b"jlsort ")


def test_missing_key_option_is_a_usage_error(jlsort):
    r = jlsort("-r", stdin=nd({"k": 1}))
    assert r.rc == 2 and "jlsort: " in r.err and "-k/--key" in r.err


@pytest.mark.parametrize("size", ["0", "1.5g", "10MB2", "-1", "abc", "10X", ""])
def test_invalid_capacity_is_a_usage_error(jlsort, size):
    r = jlsort("-k", "k", "-c", size, stdin=nd({"k": 1}))
    assert r.rc == 2, r
    assert "invalid capacity size" in r.err or "expected one argument" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("size,ok", [("1", True), ("10k", True), ("10M", True), ("1g", True),
                                     ("1G", True), ("64MiB", True), ("2t", True)])
def test_capacity_units(jlsort, size, ok):
    r = jlsort("-k", "k", "-c", size, stdin=nd({"k": 2}, {"k": 1}))
    assert r.rc == 0 and r.out == nd({"k": 1}, {"k": 2})


def test_parse_size_is_1024_based():
    from jlsort.cli import parse_size
    assert parse_size("1k") == 1024
    assert parse_size("10M") == 10 * 1024 * 1024
    assert parse_size("2g") == 2 << 30
    assert parse_size("123") == 123


def test_unreadable_file_reported_others_processed(jlsort, tmp_path):
    a = tmp_path / "a"
    a.write_bytes(nd({"k": 3}, {"k": 1}))
    b = tmp_path / "b"
    b.write_bytes(nd({"k": 2}))
    r = jlsort("-k", "k", a, tmp_path / "nope", b)
    assert r.rc == 1
    assert f"jlsort: {tmp_path / 'nope'}: No such file or directory" in r.err
    assert r.out == nd({"k": 1}, {"k": 2}, {"k": 3})


# -- upstream bugs fixed ----------------------------------------------------------------------
def test_last_line_without_newline_is_not_glued(jlsort):
    # upstream: {"k":"b"}\n{"k":"a"} -> {"k":"a"}{"k":"b"}\n (two records glued on one line)
    r = jlsort("-k", "k", stdin=b'{"k":"b"}\n{"k":"a"}')
    assert r.out == b'{"k":"a"}\n{"k":"b"}\n'


def test_last_line_without_newline_external(jlsort):
    data = b"".join(b'{"k":%d}\n' % (i % 7) for i in range(300)) + b'{"k":-1}'
    r = jlsort("-k", "k", "-c", "1k", stdin=data)
    assert r.rc == 0
    assert r.lines[0] == b'{"k":-1}' and len(r.lines) == 301 and r.out.endswith(b"}\n")


def test_blank_lines_are_kept_as_lines_without_the_key(jlsort):
    # upstream: panic "EOF while parsing", exit 101, no output; then they were dropped (issue 13:
    # the output is a permutation of the input)
    r = jlsort("-k", "k", stdin=b'{"k":2}\n\n   \n\r\n{"k":1}\n')
    assert r.rc == 0 and r.out == b'\n   \n\r\n{"k":1}\n{"k":2}\n'
    assert "3 line(s) without key 'k'" in r.err
    assert jlsort("-k", "k", "--strict", stdin=b'{"k":2}\n\n').rc == 0


def test_invalid_line_is_counted_and_reported_with_line_number(jlsort):
    # upstream: panic "expected ident", exit 101, no output, no line number
    r = jlsort("-k", "k", stdin=b'{"k":2}\nnot json\n{"k":1}\n{"k":\n')
    assert r.rc == 0
    assert r.out == b'not json\n{"k":\n{"k":1}\n{"k":2}\n'  # kept, as lines without the key
    assert "-:2: invalid JSON" in r.err and "not json" in r.err
    assert "2 invalid line(s) kept, sorted as lines without the key (first: -:2)" in r.err
    assert "without key 'k'" not in r.err  # not counted twice
    r = jlsort("-k", "k", "--invalid", "skip", stdin=b'{"k":2}\nnot json\n{"k":1}\n')
    assert r.out == b'{"k":1}\n{"k":2}\n' and "1 invalid line(s) skipped" in r.err


@pytest.mark.parametrize("flag", [["--strict"], ["--invalid", "error"]])
def test_invalid_line_fails_under_strict(jlsort, flag):
    r = jlsort("-k", "k", *flag, stdin=b'{"k":2}\n{"k":1}\n{oops\n')
    assert r.rc == 1 and r.out == b""
    assert "jlsort: -:3: invalid JSON" in r.err


def test_strings_compare_by_code_point_not_by_escaped_text(jlsort):
    # upstream compares the re-serialised JSON: "a b" and "a!" sort before "a" (closing quote),
    # and "a\"" compares as a, backslash (after "a#")
    r = jlsort("-k", "k", stdin=nd({"k": "a b"}, {"k": "a!"}, {"k": "a"}, {"k": "a#"}, {"k": 'a"'},
                                     {"k": "\u00e9"}, {"k": "z"}, {"k": "\U0001F600"}, {"k": "\uffff"}))
    assert ks(r) == ["a", "a b", "a!", 'a"', "a#", "z", "\u00e9", "\uffff", "\U0001F600"]


def test_numbers_compare_as_numbers(jlsort):
    # upstream string mode: 10 < 13 < 2
    r = jlsort("-k", "k", stdin=nd({"k": 13}, {"k": 2}, {"k": 10}, {"k": -3}, {"k": 2.5}))
    assert ks(r) == [-3, 2, 2.5, 10, 13]


def test_numeric_mode_handles_floats_and_big_integers(jlsort):
    # upstream -n: as_i64 only; floats, big ints and numeric strings all tie at i64::MAX
    data = (b'{"k":1.5}\n{"k":123456789012345678901234567891}\n{"k":1}\n{"k":1e2}\n'
            b'{"k":123456789012345678901234567890}\n{"k":9223372036854775807}\n{"k":-0.5}\n'
            b'{"k":"7"}\n{"k":1e400}\n')
    r = jlsort("-k", "k", "-n", stdin=data)
    assert r.lines == [b'{"k":-0.5}', b'{"k":1}', b'{"k":1.5}', b'{"k":"7"}', b'{"k":1e2}',
                       b'{"k":9223372036854775807}', b'{"k":123456789012345678901234567890}',
                       b'{"k":123456789012345678901234567891}', b'{"k":1e400}']


def test_numeric_strings_opt_in(jlsort):
    r = jlsort("-k", "k:N", stdin=nd({"k": "10"}, {"k": 9}, {"k": "x"}, {"k": " 2.5 "}, {"k": "1e1"}))
    assert ks(r) == [" 2.5 ", 9, "10", "1e1", "x"]


def test_cross_type_order(jlsort):
    objs = [{"k": {"b": 1}}, {"k": [1, 2]}, {"k": "s"}, {"k": 1}, {"k": True}, {"k": False},
            {"k": None}, {"x": 1}, {"k": [1]}, {"k": {"a": 5}}, {"k": -1}, {"k": ""}, {"k": []}]
    r = jlsort("-k", "k", stdin=nd(*objs))
    assert ks(r) == ["<missing>", None, False, True, -1, 1, "", "s", [], [1], [1, 2],
                     {"a": 5}, {"b": 1}]


def test_missing_key_warns_once_with_count(jlsort):
    r = jlsort("-k", "k", stdin=nd({"k": 2}, {"x": 1}, {"k": 1}, {"y": 1}) + b"[1,2]\n5\n")
    assert r.rc == 0
    assert r.lines[:4] == [b'{"x":1}', b'{"y":1}', b"[1,2]", b"5"]
    assert "4 line(s) without key 'k'" in r.err and "first: -:2" in r.err


@pytest.mark.parametrize("policy,expected", [
    ("first", ["<missing>", 1, 2]),
    ("last", [1, 2, "<missing>"]),
    ("skip", [1, 2]),
])
def test_missing_policies(jlsort, policy, expected):
    r = jlsort("-k", "k", "--missing", policy, stdin=nd({"k": 2}, {"x": 1}, {"k": 1}))
    assert r.rc == 0 and ks(r) == expected
    r = jlsort("-k", "k", "-r", "--missing", policy, stdin=nd({"k": 2}, {"x": 1}, {"k": 1}))
    rev = {"first": ["<missing>", 2, 1], "last": [2, 1, "<missing>"], "skip": [2, 1]}[policy]
    assert ks(r) == rev


def test_missing_error(jlsort):
    r = jlsort("-k", "k", "--missing", "error", stdin=nd({"k": 2}, {"k": 3}, {"x": 1}))
    assert r.rc == 1 and r.out == b"" and "-:3: no key 'k'" in r.err


def test_numeric_mode_puts_non_numbers_after_numbers(jlsort):
    r = jlsort("-k", "k", "-n", stdin=nd({"k": "a"}, {"x": 0}, {"k": 3}, {"k": None}, {"k": 1}))
    assert ks(r) == [1, 3, "<missing>", None, "a"]


def test_duplicate_members_last_wins(jlsort):
    r = jlsort("-k", "k", stdin=b'{"k":1,"k":9}\n{"k":5}\n')
    assert r.lines == [b'{"k":5}', b'{"k":1,"k":9}']


def test_crlf_lines_parsed_and_kept(jlsort):
    r = jlsort("-k", "k", stdin=b'{"k":2}\r\n{"k":1}\r\n')
    assert r.out == b'{"k":1}\r\n{"k":2}\r\n'


def test_nested_paths_and_pointers(jlsort):
    data = nd({"a": {"b": 2}, "id": 1}, {"a": {"b": 1}, "id": 2}, {"a": {"c": 0}, "id": 3},
              {"a": [5], "id": 4})
    for key in ("a.b", "/a/b", 'a["b"]'):
        r = jlsort("-k", key, stdin=data)
        assert ks(r, "id") == [3, 4, 2, 1], key
    r = jlsort("-k", "a[0]", stdin=nd({"a": [3, 1]}, {"a": [2]}, {"a": []}))
    assert r.lines == [b'{"a":[]}', b'{"a":[2]}', b'{"a":[3,1]}']
    # a literal member name with a dot: quote it
    r = jlsort("-k", '"a.b"', stdin=nd({"a.b": 2}, {"a.b": 1}))
    assert r.lines == [b'{"a.b":1}', b'{"a.b":2}']


def test_several_keys_each_with_type_and_direction(jlsort):
    data = nd({"d": "2001", "s": 5, "i": 1}, {"d": "2000", "s": 7, "i": 2}, {"d": "2001", "s": 10, "i": 3},
              {"d": "2000", "s": 7, "i": 4}, {"d": "2001", "s": 9, "i": 5})
    r = jlsort("-k", "d", "-k", "s:n:r", stdin=data)
    assert ks(r, "i") == [2, 4, 3, 5, 1]
    r = jlsort("-k", "d:r", "-k", "s:n", stdin=data)
    assert ks(r, "i") == [1, 5, 3, 2, 4]
    r = jlsort("-k", "d", "-k", "s", "-r", stdin=data)
    assert ks(r, "i") == [3, 5, 1, 2, 4]


def test_stable_including_reverse(jlsort):
    data = nd(*({"k": i % 3, "i": i} for i in range(30)))
    r = jlsort("-k", "k", stdin=data)
    assert ks(r, "i") == sorted(range(30), key=lambda i: i % 3)
    r = jlsort("-k", "k", "-r", stdin=data)
    # upstream -r: ties in reverse input order; here input order
    assert ks(r, "i") == sorted(range(30), key=lambda i: -(i % 3))


def test_stable_across_runs(jlsort):
    # upstream, several chunks: ties come out scrambled (the merge takes the later run first)
    data = nd(*({"k": i % 3, "i": i, "pad": "x" * 40} for i in range(3000)))
    for extra in ([], ["-r"]):
        r = jlsort("-k", "k", "-c", "4k", *extra, stdin=data)
        sign = -1 if extra else 1
        assert ks(r, "i") == sorted(range(3000), key=lambda i: sign * (i % 3)), extra


def test_unique_keeps_first_of_equal_keys(jlsort):
    data = nd({"k": 2, "i": 1}, {"k": 1, "i": 2}, {"k": 2, "i": 3}, {"k": 1.0, "i": 4}, {"k": 3, "i": 5})
    r = jlsort("-k", "k", "-u", stdin=data)
    assert ks(r, "i") == [2, 1, 5]
    r = jlsort("-k", "k", "-u", "-c", "1", stdin=data)
    assert ks(r, "i") == [2, 1, 5]


def test_check(jlsort, tmp_path):
    f = tmp_path / "s.ndjson"
    f.write_bytes(nd({"k": 1}, {"k": 2}, {"k": 2}, {"k": 3}))
    r = jlsort("-k", "k", "--check", f)
    assert r.rc == 0 and r.out == b""
    r = jlsort("-k", "k", "--check", "-u", f)
    assert r.rc == 1 and f"{f}:3: disorder" in r.err
    f.write_bytes(nd({"k": 1}, {"k": 3}, {"k": 2}, {"k": 0}))
    r = jlsort("-k", "k", "--check", f)
    assert r.rc == 1 and f"jlsort: {f}:3: disorder: " + '{"k":2}' in r.err
    r = jlsort("-k", "k", "-C", f)
    assert r.rc == 1 and r.err == ""
    r = jlsort("-k", "k", "-r", "--check", f)
    assert r.rc == 1 and f"{f}:2: disorder" in r.err


def test_merge_sorted_files(jlsort, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(nd({"k": 1, "f": "a"}, {"k": 3, "f": "a"}, {"k": 5, "f": "a"}))
    b.write_bytes(nd({"k": 1, "f": "b"}, {"k": 2, "f": "b"}, {"k": 6, "f": "b"}))
    r = jlsort("-k", "k", "-m", a, b)
    assert r.rc == 0
    assert [(o["k"], o["f"]) for o in map(json.loads, r.lines)] == \
        [(1, "a"), (1, "b"), (2, "b"), (3, "a"), (5, "a"), (6, "b")]
    b.write_bytes(nd({"k": 9}, {"k": 2}))
    r = jlsort("-k", "k", "-m", a, b)
    assert r.rc == 1 and f"{b}:2: disorder" in r.err


def test_output_file_may_be_an_input(jlsort, tmp_path):
    f = tmp_path / "data.ndjson"
    data = nd(*({"k": (i * 7919) % 1000} for i in range(2000)))
    f.write_bytes(data)
    f.chmod(0o640)
    r = jlsort("-k", "k", "-c", "8k", "-o", f, f)
    assert r.rc == 0 and r.out == b""
    got = f.read_bytes().splitlines()
    assert sorted(got) == sorted(data.splitlines())
    assert [json.loads(x)["k"] for x in got] == sorted((i * 7919) % 1000 for i in range(2000))
    assert (f.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["data.ndjson"]


def test_output_through_a_symlink_writes_its_target(jlsort, tmp_path):
    # -o LINK replaced the symlink by a regular file and left the target unsorted (sort -o
    # writes the target)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "data.ndjson"
    target.write_bytes(b'{"k":2}\n{"k":1}\n')
    link = tmp_path / "link.ndjson"
    link.symlink_to(target)
    r = jlsort("-k", "k", "-o", link, link)
    assert r.rc == 0, r.err
    assert link.is_symlink() and target.read_bytes() == b'{"k":1}\n{"k":2}\n'
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["data.ndjson"]


def test_output_file_untouched_on_error(jlsort, tmp_path):
    f = tmp_path / "out.ndjson"
    f.write_bytes(b"keep me\n")
    r = jlsort("-k", "k", "--strict", "-o", f, stdin=b'{"k":1}\nbad\n')
    assert r.rc == 1 and f.read_bytes() == b"keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.ndjson"]


def test_gzip_input(jlsort, tmp_path):
    f = tmp_path / "in.ndjson.gz"
    with gzip.open(f, "wb") as g:
        g.write(nd({"k": "b"}, {"k": "a"}))
    r = jlsort("-k", "k", f)
    assert r.rc == 0 and r.out == nd({"k": "a"}, {"k": "b"})
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not gzip")
    r = jlsort("-k", "k", bad, f)
    assert r.rc == 1 and f"jlsort: {bad}: " in r.err and r.out == nd({"k": "a"}, {"k": "b"})


def test_unwritable_temporary_directory(jlsort, tmp_path):
    data = nd(*({"k": i} for i in range(500)))
    r = jlsort("-k", "k", "-c", "1k", "-T", tmp_path / "nodir", stdin=data)
    assert r.rc == 1 and "cannot create a temporary file in" in r.err and "Traceback" not in r.err
    # when everything fits in memory, no temporary file is needed at all
    r = jlsort("-k", "k", "-T", tmp_path / "nodir", stdin=data)
    assert r.rc == 0 and len(r.lines) == 500


def test_bad_key_spec_is_a_usage_error(jlsort):
    for k in ("a.", '"a', "a[x]", ".a", "a..b"):
        r = jlsort("-k", k, stdin=nd({"a": 1}))
        assert r.rc == 2 and r.err.startswith("usage:") and "jlsort: " in r.err, k


def test_runs_of_different_key_kinds_merge_in_the_documented_order(jlsort, monkeypatch):
    # runs holding only strings, only numbers, or mixed values keep raw keys of different kinds;
    # the merge must bring them to one comparable form (and a fan-in of 2 forces merge levels)
    import jlsort.sort as sortmod
    monkeypatch.setattr(sortmod, "FANIN", 2)
    objs = ([{"k": f"s{i % 13}", "i": i} for i in range(400)] + [{"k": i % 17, "i": i} for i in range(400)]
            + [{"k": [i % 3], "i": i} for i in range(200)] + [{"x": i, "i": i} for i in range(50)]
            + [{"k": (i % 5) / 2, "i": i} for i in range(300)])
    data = nd(*objs)
    from decimal import Decimal

    def rank(o):
        if "k" not in o:
            return (0,)
        v = o["k"]
        if isinstance(v, str):
            return (5, v)
        if isinstance(v, list):
            return (6, tuple(v))
        return (4, Decimal(str(v)))
    expected = [json.dumps(o, separators=(",", ":")).encode() for o in sorted(objs, key=rank)]
    for cap in ("2k", "16k", "1g"):
        r = jlsort("-k", "k", "-c", cap, stdin=data)
        assert r.rc == 0 and r.lines == expected, cap
    exp_rev = [json.dumps(o, separators=(",", ":")).encode() for o in sorted(objs, key=rank, reverse=True)]
    r = jlsort("-k", "k", "-r", "-c", "2k", stdin=data)
    assert r.lines == exp_rev


def test_progress_only_on_a_terminal(script, tmp_path):
    import os
    import pty
    import subprocess
    f = tmp_path / "in.ndjson"
    f.write_bytes(b"".join(b'{"k":%d}\n' % (i % 100) for i in range(450_000)))
    master, slave = pty.openpty()
    try:
        p = subprocess.run([script("jlsort"), "-k", "k", f], stdout=subprocess.DEVNULL, stderr=slave,
                           timeout=120)
        os.close(slave)
        slave = None
        tty = read_pty(master)
        assert p.returncode == 0
        assert b"lines read" in tty
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    r = subprocess.run([script("jlsort"), "-k", "k", f], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stderr == b""


@pytest.mark.parametrize("n_good", [1, 40])  # the line-by-line and the one-call block decode
def test_invalid_utf8_in_a_string_is_an_invalid_line_not_a_traceback(jlsort, jluniq, jljoin, tmp_path,
                                                                     n_good):
    # msgspec raises UnicodeDecodeError (not DecodeError) for bytes like \xff inside a string
    good = b"".join(b'{"k":"%03d"}\n' % i for i in range(n_good))
    # since issue 13 (jq's notion of valid JSON) it is a string holding U+FFFD, kept unchanged
    data = good + b'{"k":"\xff\xfe"}\n'
    r = jlsort("-k", "k", stdin=data)
    assert r.rc == 0 and r.out == data and r.err == ""
    assert jlsort("-k", "k", "--strict", stdin=data).rc == 0
    r = jluniq("-k", "k", stdin=data)
    assert r.rc == 0 and r.out == data
    f = tmp_path / "a.ndjson"
    f.write_bytes(data)
    r = jljoin("-k", "k", f, f)
    assert r.rc == 0 and len(r.lines) == n_good + 1


def test_shown_bad_line_cannot_drive_the_terminal(jlsort):
    # a binary line was echoed raw (ESC sequences, CR) in the warning
    r = jlsort("-k", "k", stdin=b'{"k":1}\n\x1b[2J\x1b]0;owned\x07\xff\r\n')
    assert r.rc == 0 and r.out == b'\x1b[2J\x1b]0;owned\x07\xff\r\n{"k":1}\n'
    assert "\x1b" not in r.err and "\x07" not in r.err and "\r" not in r.err
    assert "-:2: invalid JSON" in r.err and "\\x1b[2J" in r.err and "\\xff" in r.err
