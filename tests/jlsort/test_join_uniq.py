"""jljoin and jluniq through their command lines."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def nd(*objs) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


def write(p, *objs):
    p.write_bytes(nd(*objs))
    return p


# -- jljoin ------------------------------------------------------------------------------------
def test_join_unmatched_keys_do_not_shift_blocks(jljoin, tmp_path):
    # upstream pairs the n-th key block of FILE1 with the n-th of FILE2: keys {1,2,3} vs {2,3}
    # prints nothing and exits 0
    a = write(tmp_path / "a", {"id": 1, "a": 1}, {"id": 2, "a": 2}, {"id": 3, "a": 3})
    b = write(tmp_path / "b", {"id": 2, "b": 2}, {"id": 3, "b": 3})
    r = jljoin("-k", "id", a, b)
    assert r.rc == 0, r
    assert r.lines == [b'[{"id":2,"a":2},{"id":2,"b":2}]', b'[{"id":3,"a":3},{"id":3,"b":3}]']


def test_join_keeps_the_bytes_of_both_sides(jljoin, tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b'{ "id": 1, "z": 1.50, "a": "\\u00e9" }\r\n')
    b = tmp_path / "b"
    b.write_bytes(b'{"id":1.0,"b":[1, 2]}\n')
    r = jljoin("-k", "id", a, b)
    assert r.out == b'[{ "id": 1, "z": 1.50, "a": "\\u00e9" },{"id":1.0,"b":[1, 2]}]\n'


def test_join_many_to_many_and_outer(jljoin, tmp_path):
    a = write(tmp_path / "a", {"k": 1, "a": 1}, {"k": 2, "a": 2}, {"k": 2, "a": 3}, {"k": 4, "a": 4})
    b = write(tmp_path / "b", {"k": 0, "b": 0}, {"k": 2, "b": 1}, {"k": 2, "b": 2}, {"k": 3, "b": 3})
    r = jljoin("-k", "k", a, b)
    pairs = [json.loads(x) for x in r.lines]
    assert [(p[0]["a"], p[1]["b"]) for p in pairs] == [(2, 1), (2, 2), (3, 1), (3, 2)]
    r = jljoin("-k", "k", "-a", "1", a, b)
    got = [json.loads(x) for x in r.lines]
    assert [[None if s is None else s["k"] for s in p] for p in got] == \
        [[1, None], [2, 2], [2, 2], [2, 2], [2, 2], [4, None]]
    r = jljoin("-k", "k", "--full", a, b)
    got = [[None if s is None else s["k"] for s in json.loads(x)] for x in r.lines]
    assert got == [[None, 0], [1, None], [2, 2], [2, 2], [2, 2], [2, 2], [None, 3], [4, None]]
    r = jljoin("-k", "k", "-v", "2", a, b)
    assert r.lines == [b'{"k":0,"b":0}', b'{"k":3,"b":3}']


def test_join_different_key_names_and_merge(jljoin, tmp_path):
    a = write(tmp_path / "a", {"id": 1, "x": {"p": 1, "q": 1}, "s": "a"})
    b = write(tmp_path / "b", {"uid": 1, "x": {"q": 2, "r": 2}, "s": "b"})
    r = jljoin("-1", "id", "-2", "uid", "-m", "1", a, b)
    assert r.rc == 0, r
    assert json.loads(r.out) == {"id": 1, "uid": 1, "x": {"p": 1, "q": 1, "r": 2}, "s": "a"}
    assert r.out == b'{"id":1,"s":"a","uid":1,"x":{"p":1,"q":1,"r":2}}\n'  # members sorted
    r = jljoin("-1", "id", "-2", "uid", "-m", "2", a, b)
    assert json.loads(r.out) == {"id": 1, "uid": 1, "x": {"p": 1, "q": 2, "r": 2}, "s": "b"}


def test_join_checks_the_order(jljoin, tmp_path):
    a = write(tmp_path / "a", {"k": 1}, {"k": 3}, {"k": 2})
    b = write(tmp_path / "b", {"k": 1}, {"k": 2}, {"k": 3})
    r = jljoin("-k", "k", a, b)
    assert r.rc == 1
    assert f"jljoin: {a}:3: input is not sorted by 'k'" in r.err
    # the hash join does not need sorted input
    r = jljoin("-k", "k", "--hash", a, b)
    assert r.rc == 0 and [json.loads(x)[0]["k"] for x in r.lines] == [1, 3, 2]


def test_join_key_flags_set_the_order_and_equality(jljoin, jlsort, tmp_path):
    # the key flags were parsed and ignored: input sorted by `jlsort -k k:n` (numbers, then null)
    # was refused as unsorted, and `-k k:N` did not match "2" with 2
    data = nd({"k": None, "s": "a"}, {"k": 2, "s": "b"}, {"k": 1, "s": "c"})
    a = tmp_path / "a"
    a.write_bytes(jlsort("-k", "k:n", stdin=data).out)
    b = write(tmp_path / "b", {"k": 1, "t": 1}, {"k": 2, "t": 2}, {"k": None, "t": 3})
    r = jljoin("-k", "k:n", "-m", "1", a, b)
    assert r.rc == 0, r.err
    assert [json.loads(x)["t"] for x in r.lines] == [1, 2, 3]
    c = write(tmp_path / "c", {"k": "1", "u": 1}, {"k": "2", "u": 2})
    r = jljoin("-1", "k:N", "-2", "k", "-m", "1", c, b)
    assert r.rc == 0 and [json.loads(x)["t"] for x in r.lines] == [1, 2]


def test_join_missing_key(jljoin, tmp_path):
    a = write(tmp_path / "a", {"x": 0}, {"k": 1})
    b = write(tmp_path / "b", {"k": None}, {"k": 1})
    r = jljoin("-k", "k", a, b)
    assert r.rc == 0 and r.lines == [b'[{"k":1},{"k":1}]']
    assert "1 line(s) without key 'k' skipped (first: " + str(a) + ":1)" in r.err
    r = jljoin("-k", "k", "--allow-no-key", a, b)
    assert r.lines == [b'[{"x":0},{"k":null}]', b'[{"k":1},{"k":1}]']
    r = jljoin("-k", "k", "--strict", a, b)
    assert r.rc == 1 and f"{a}:1: no key 'k'" in r.err


def test_join_stdin_and_errors(jljoin, tmp_path):
    b = write(tmp_path / "b", {"k": 1, "b": 1})
    r = jljoin("-k", "k", "-", b, stdin=nd({"k": 1, "a": 1}))
    assert r.lines == [b'[{"k":1,"a":1},{"k":1,"b":1}]']
    r = jljoin("-k", "k", tmp_path / "nope", b)
    assert r.rc == 1 and "No such file or directory" in r.err
    r = jljoin("a", b)
    assert r.rc == 2 and "jljoin: " in r.err
    r = jljoin("-k", "k", "-", "-")
    assert r.rc == 2
    # upstream's -v alone prints the version; -v N is "unpaired lines of N only"
    r = jljoin("-v")
    assert r.rc == 0 and r.out.startswith(b"jljoin ")


keyvals = st.one_of(st.integers(0, 6), st.sampled_from(["a", "b", None, 1.0, 2.5]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(left=st.lists(keyvals, max_size=12), right=st.lists(keyvals, max_size=12),
       mode=st.sampled_from([[], ["-a", "1"], ["-a", "2"], ["--full"]]))
def test_join_matches_nested_loop_reference(jljoin, jlsort, tmp_path_factory, left, right, mode):
    d = tmp_path_factory.mktemp("j")
    a = write(d / "a", *({"k": k, "a": i} for i, k in enumerate(left)))
    b = write(d / "b", *({"k": k, "b": i} for i, k in enumerate(right)))
    sa, sb = d / "sa", d / "sb"
    assert jlsort("-k", "k", "-o", sa, a).rc == 0
    assert jlsort("-k", "k", "-o", sb, b).rc == 0
    la = [json.loads(x) for x in sa.read_bytes().splitlines()]
    lb = [json.loads(x) for x in sb.read_bytes().splitlines()]

    def eq(x, y):
        return type(x) is not bool and type(y) is not bool and x == y and (x is None) == (y is None)
    expected = set()
    for x in la:
        for y in lb:
            if eq(x["k"], y["k"]):
                expected.add((x["a"], y["b"]))
    if "-a" in mode and "1" in mode or "--full" in mode:
        expected |= {(x["a"], None) for x in la if not any(eq(x["k"], y["k"]) for y in lb)}
    if "-a" in mode and "2" in mode or "--full" in mode:
        expected |= {(None, y["b"]) for y in lb if not any(eq(x["k"], y["k"]) for x in la)}

    def got(r):
        assert r.rc == 0, r
        out = [json.loads(x) for x in r.lines]
        return [(p[0] and p[0]["a"], p[1] and p[1]["b"]) for p in out]
    merged = got(jljoin("-k", "k", *mode, sa, sb))
    assert set(merged) == expected and len(merged) == len(expected)
    hashed = got(jljoin("-k", "k", "--hash", *mode, a, b))
    assert set(hashed) == expected and len(hashed) == len(expected)


# -- jluniq ------------------------------------------------------------------------------------
def test_uniq_first_line_count_group(jluniq):
    data = nd({"k": "a", "i": 1}, {"k": "a", "i": 2}, {"k": "b", "i": 3}, {"k": "a", "i": 4})
    r = jluniq("-k", "k", stdin=data)
    assert r.lines == [b'{"k":"a","i":1}', b'{"k":"b","i":3}', b'{"k":"a","i":4}']
    r = jluniq("-k", "k", "-c", stdin=data)
    assert r.lines == [b'["a",2]', b'["b",1]', b'["a",1]']
    r = jluniq("-k", "k", "-g", stdin=data)
    assert r.lines[0] == b'["a",{"k":"a","i":1},{"k":"a","i":2}]'
    r = jluniq("-k", "k", "-g", "-c", stdin=data)
    assert r.lines[1] == b'["b",1,{"k":"b","i":3}]'


def test_uniq_value_serialisation(jluniq):
    data = (b'{"k":{"b":1,"a":[1.50,"x\\"y"]}}\n{"k":{"a":[1.50,"x\\"y"],"b":1}}\n'
            b'{"k":"\\u00e9\\n"}\n{"k":123456789012345678901234567890}\n')
    r = jluniq("-k", "k", "-c", stdin=data)
    assert r.lines == [b'[{"a":[1.50,"x\\"y"],"b":1},2]', '["é\\n",1]'.encode(),
                       b"[123456789012345678901234567890,1]"]


def test_uniq_equality_is_jlsorts(jluniq):
    # issue 13: jlsort's notion of equal keys (1 == 1.0; upstream and jluniq before: typed)
    data = nd({"k": 1}, {"k": 1.0}, {"k": 1}, {"k": "1"}, {"k": True})
    r = jluniq("-k", "k", "-c", stdin=data)
    assert r.lines == [b"[1,3]", b'["1",1]', b"[true,1]"]
    r = jluniq("-k", "k", "-c", "-n", stdin=data)  # -n: numeric strings too, as jlsort -n
    assert r.lines == [b"[1,4]", b"[true,1]"]


def test_uniq_key_flags_set_the_equality(jluniq):
    # `-k k:n` is the per-key spelling of -n (as in jlsort); the flag was parsed and then ignored
    data = nd({"k": 1}, {"k": 1.0}, {"k": 1}, {"k": "1"}, {"k": True})
    assert jluniq("-k", "k:n", "-c", stdin=data).lines == [b"[1,4]", b"[true,1]"]
    assert jluniq("-k", "k:N", "-c", stdin=data).lines == [b"[1,4]", b"[true,1]"]


def test_uniq_nested_key_and_files(jluniq, tmp_path):
    a = write(tmp_path / "a", {"u": {"id": 1}}, {"u": {"id": 1}})
    b = write(tmp_path / "b", {"u": {"id": 1}}, {"u": {"id": 2}})
    r = jluniq("-k", "u.id", "-c", a, tmp_path / "nope", b)
    assert r.rc == 1 and r.lines == [b"[1,3]", b"[2,1]"]
    assert f"jluniq: {tmp_path / 'nope'}: No such file or directory" in r.err


def test_uniq_missing_key_and_invalid(jluniq):
    data = b'{"k":1}\n{"x":1}\nnope\n{"k":1}\n'
    r = jluniq("-k", "k", "-c", stdin=data)
    assert r.rc == 0 and r.lines == [b"[1,2]"]
    assert "-:3: invalid JSON" in r.err and "without key 'k'" in r.err
    r = jluniq("-k", "k", "-c", "--allow-no-key", stdin=data)
    assert r.lines == [b"[1,1]", b"[null,2]", b"[1,1]"]  # the line that is not JSON has no key
    assert "counted as null" in r.err and "sorted as missing" not in r.err
    r = jluniq("-k", "k", "--strict", stdin=data)
    assert r.rc == 1 and "-:2: no key 'k'" in r.err
