"""Property-based: for random NDJSON and random key specs, the output is the input lines in the
documented order, stably, in memory and through forced external sorts (tiny buffer, tiny fan-in).

The reference is the documented order written out here on values decoded by the standard json
module: missing < null < false < true < numbers (exact) < strings (code points) < arrays
(element-wise) < objects (sorted member names, then values); numeric keys: numbers first.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MISSING = object()


def ref_key(v):
    if v is MISSING:
        return (0,)
    if v is None:
        return (1,)
    if v is False:
        return (2,)
    if v is True:
        return (3,)
    if isinstance(v, (int, Decimal)):
        return (4, v)
    if isinstance(v, str):
        return (5, v)
    if isinstance(v, list):
        return (6, tuple(ref_key(x) for x in v))
    names = sorted(v)
    return (7, tuple(names), tuple(ref_key(v[n]) for n in names))


def ref_key_num(v):
    """-n: numbers and numeric strings (as sort -n reads text) first by value, then the rest in
    the general order."""
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return (0, v)
    if isinstance(v, str) and re.fullmatch(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*", v):
        return (0, Decimal(v.strip()))
    return (1, ref_key(v))


def lookup(obj, path):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        else:
            return MISSING
    return obj


def reference(lines, specs):
    """specs: list of (path tuple, numeric, desc). Stable multi-pass sort."""
    decoded = [json.loads(line, parse_float=Decimal) for line in lines]
    idx = list(range(len(lines)))
    for path, numeric, desc in reversed(specs):
        f = ref_key_num if numeric else ref_key
        idx.sort(key=lambda i: f(lookup(decoded[i], path)), reverse=desc)
    return [lines[i] for i in idx]


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10 ** 25), max_value=10 ** 25),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from(["", "a", "a b", "a!", 'a"', "a\\", "é", "\U0001F600", "A", "\n", "\x00"]),
    text,
)
values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "k"]), kids, max_size=3)),
    max_leaves=6)
MISS = "__missing__"
records = st.lists(
    st.fixed_dictionaries({"k": st.one_of(values, st.just(MISS)),
                           "j": st.one_of(st.integers(-2, 2), st.sampled_from(["x", "y"]), st.just(MISS)),
                           "n": st.fixed_dictionaries({"v": st.one_of(scalars, st.just(MISS))})}),
    max_size=60)

SPECS = [
    (["k"], [(("k",), False, False)]),
    (["k:r"], [(("k",), False, True)]),
    (["k:n"], [(("k",), True, False)]),
    (["-n", "-r", "k"], [(("k",), True, True)]),
    (["j", "k:r"], [(("j",), False, False), (("k",), False, True)]),
    (["j:r", "k:n:r"], [(("j",), False, True), (("k",), True, True)]),
    (["n.v", "j"], [(("n", "v"), False, False), (("j",), False, False)]),
    (["/n/v:r"], [(("n", "v"), False, True)]),
]


def to_lines(recs, ascii_only):
    out = []
    for i, r in enumerate(recs):
        obj = {name: v for name, v in r.items() if v != MISS}
        if isinstance(obj.get("n"), dict) and obj["n"].get("v") == MISS:
            obj["n"] = {}
        obj["i"] = i
        out.append(json.dumps(obj, ensure_ascii=ascii_only).encode())
    return out


def argv_of(keys):
    argv = []
    for k in keys:
        if k.startswith("-"):
            argv.append(k)
        else:
            argv += ["-k", k]
    return argv


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records, spec=st.sampled_from(SPECS), ascii_only=st.booleans(), no_final_nl=st.booleans())
def test_sort_matches_reference(jlsort, monkeypatch, recs, spec, ascii_only, no_final_nl):
    import jlsort.sort as sortmod
    keys, ref_specs = spec
    lines = to_lines(recs, ascii_only)
    expected = reference(lines, ref_specs)
    data = b"\n".join(lines) + (b"" if no_final_nl or not lines else b"\n")
    argv = argv_of(keys)
    r = jlsort(*argv, stdin=data)
    assert r.rc == 0, r
    assert r.lines == expected
    # forced external: many runs, and a fan-in of 3 so that runs are merged in several levels
    monkeypatch.setattr(sortmod, "FANIN", 3)
    r = jlsort(*argv, "-c", "300", stdin=data)
    assert r.rc == 0, r
    assert r.lines == expected
    monkeypatch.undo()
    # -u keeps the first line of each group of equal keys
    r = jlsort(*argv, "-u", "-c", "1k", stdin=data)
    uniq, prev = [], object()
    decoded = {line: json.loads(line, parse_float=Decimal) for line in expected}

    def full_key(line):
        return tuple((ref_key_num if num else ref_key)(lookup(decoded[line], path))
                     for path, num, _ in ref_specs)
    for line in expected:
        k = full_key(line)
        if k != prev:
            uniq.append(line)
            prev = k
    assert r.lines == uniq


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records, spec=st.sampled_from(SPECS), splits=st.lists(st.integers(0, 60), max_size=3))
def test_merge_and_check_agree_with_sort(jlsort, tmp_path_factory, recs, spec, splits):
    keys, ref_specs = spec
    lines = to_lines(recs, True)
    d = tmp_path_factory.mktemp("m")
    # split the input into parts, sort each, merge: same as sorting the whole
    cuts = sorted(set(min(s, len(lines)) for s in splits)) + [len(lines)]
    parts, start = [], 0
    for i, c in enumerate(cuts):
        p = d / f"p{i}"
        chunk = lines[start:c]
        p.write_bytes(b"".join(x + b"\n" for x in reference(chunk, ref_specs)))
        parts.append(p)
        start = c
    argv = argv_of(keys)
    r = jlsort(*argv, "-m", *parts)
    assert r.rc == 0, r
    assert r.lines == reference(lines, ref_specs)
    for p in parts:
        assert jlsort(*argv, "--check", p).rc == 0


@pytest.mark.parametrize("cap", ["1k", "100k"])
def test_external_sort_on_larger_input(jlsort, cap):
    import random
    rnd = random.Random(5)
    lines = [json.dumps({"k": rnd.choice([rnd.randrange(100), str(rnd.randrange(50)), None,
                                          rnd.random()]), "i": i}).encode() for i in range(20000)]
    r = jlsort("-k", "k", "-c", cap, stdin=b"\n".join(lines) + b"\n")
    assert r.rc == 0
    assert r.lines == reference(lines, [(("k",), False, False)])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pool=st.lists(text, min_size=1, max_size=40), seed=st.integers(0, 10 ** 6),
       escaped=st.booleans(), cap=st.sampled_from(["100k", "2m"]))
def test_string_keys_shared_across_many_blocks(jlsort, pool, seed, escaped, cap):
    """Equal key strings are made one object across blocks (when every key of a block is a
    string): same order as the reference, escaped or not, in memory (2m: blocks of 128 KiB)
    and external."""
    import random
    rnd = random.Random(seed)
    lines = []
    for i in range(6000):
        k = rnd.choice(pool)
        if i < 200 and rnd.random() < 0.05:
            k = {"nested": k}  # the first block is not all strings; the others are
        lines.append(json.dumps({"k": k, "i": i, "pad": "p" * 20},
                                ensure_ascii=escaped and rnd.random() < 0.5).encode())
    r = jlsort("-k", "k", "-c", cap, stdin=b"\n".join(lines) + b"\n")
    assert r.rc == 0, r
    assert r.lines == reference(lines, [(("k",), False, False)])
    r = jlsort("-k", "k:r", "-c", cap, stdin=b"\n".join(lines) + b"\n")
    assert r.lines == reference(lines, [(("k",), False, True)])


def test_many_distinct_string_keys_reset_the_shared_table(jlsort):
    lines = [json.dumps({"k": f"{(i * 7919) % 70001:05d}", "i": i}).encode() for i in range(70001)]
    r = jlsort("-k", "k", "-c", "1m", stdin=b"\n".join(lines) + b"\n")
    assert r.rc == 0
    assert r.lines == reference(lines, [(("k",), False, False)])


# -- issue 13: adversarial NDJSON for jlsort, jluniq and jljoin.
#
# Lines: objects with nested keys and duplicate members, numbers equal as values but written
# differently (1, 1.0, 1e0, 10E-1), strings with lone surrogate escapes and invalid UTF-8, a BOM
# before a line, CRLF, blank lines and lines that are not JSON. The reference decodes a line as jq
# does (a leading BOM ignored; invalid UTF-8 and lone surrogates as U+FFFD) with the standard json
# module, and orders keys in the documented order (ref_key above).
#
# - jlsort's output is the input lines in the reference order (so a permutation of them) in
#   every mode: in memory, many runs with a tiny fan-in (-c tiny), --parallel, -m of sorted parts.
# - jluniq's groups agree with jlsort's order: their values, fed back, are strictly increasing for
#   `jlsort --check -u`, and the counts add up to the lines that have the key.
# - jljoin's pairs are those of a nested loop over both inputs with the reference equality.
BOM = b"\xef\xbb\xbf"
SURR = re.compile("[\ud800-\udfff]")


def _const(name):
    raise ValueError(name)


def _clean(v):
    if isinstance(v, str):
        return SURR.sub("\ufffd", v)
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {_clean(k): _clean(x) for k, x in v.items()}
    return v


def ref_value(line: bytes, path):
    """The key value of a line as jq reads it, or MISSING (no key, not an object, not JSON)."""
    data = line[3:] if line.startswith(BOM) else line
    try:
        v = _clean(json.loads(data.decode("utf-8", "replace"), parse_float=Decimal,
                              parse_constant=_const))
    except ValueError:
        return MISSING
    return lookup(v, path)


def _fold(v):
    if isinstance(v, str):
        return v.upper()
    if isinstance(v, list):
        return [_fold(x) for x in v]
    if isinstance(v, dict):
        return {k: _fold(x) for k, x in v.items()}
    return v


def ref_sort_key(flags):
    num = "-n" in flags
    fold = "-f" in flags

    def key(line):
        v = ref_value(line, ("k", "v"))
        if fold and v is not MISSING:
            v = _fold(v)
        return ref_key_num(v) if num else ref_key(v)
    return key


# -- adversarial lines -------------------------------------------------------------------------
numbers = st.sampled_from([b"1", b"1.0", b"1e0", b"10E-1", b"2", b"2.00", b"-0", b"0", b"0.0",
                           b"1e400", b"123456789012345678901234567890", b"-1.5"])
strings = st.sampled_from([b'"a"', b'"A"', b'"b"', b'"\\ud800"', b'"\\ufffd"', b'"\\udc00x"',
                           b'"\xff"', b'"1"', b'" 2.0 "', b'"\\u0041"', b'""', b'"\xc3\xa9"',
                           b'"\\u00e9"', b'"_"', b'"\xef\xbf\xbd"'])
scalars = st.one_of(numbers, strings, st.sampled_from([b"null", b"true", b"false"]))
values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=2).map(lambda xs: b"[" + b",".join(xs) + b"]"),
    st.lists(st.tuples(st.sampled_from([b'"a"', b'"v"']), kids), max_size=2).map(
        lambda ms: b"{" + b",".join(n + b":" + x for n, x in ms) + b"}")), max_leaves=4)


@st.composite
def line(draw, i):
    kind = draw(st.sampled_from(["obj"] * 6 + ["dup", "nokey", "bad", "blank", "array"]))
    n = str(i).encode()
    if kind == "obj":
        data = b'{"k":{"v":' + draw(values) + b'},"i":' + n + b"}"
    elif kind == "dup":  # duplicate members: the last one wins
        data = (b'{"k":{"v":' + draw(values) + b'},"i":' + n + b',"k":{"v":' + draw(values)
                + b"}}")
    elif kind == "nokey":
        data = draw(st.sampled_from([b'{"i":%d}', b'{"k":{},"i":%d}', b'{"k":5,"i":%d}'])) % i
    elif kind == "array":
        data = b"[%d]" % i
    elif kind == "blank":
        data = draw(st.sampled_from([b"", b"  ", b"\r"]))
    else:
        data = draw(st.sampled_from([b"not json %d", b'{"k":%d', b"{'k': %d}", b"NaN %d",
                                     b"%d}", b'{"k":{"v":1}} %d'])) % i
    if kind != "blank" and draw(st.integers(0, 5)) == 0:
        data = BOM + data
    if kind != "blank" and draw(st.integers(0, 5)) == 0:
        data += b"\r"
    return data


@st.composite
def ndjson(draw, max_lines=30):
    n = draw(st.integers(0, max_lines))
    return [draw(line(i)) for i in range(n)]


FLAGS = st.sampled_from([[], ["-n"], ["-f"], ["-r"], ["-n", "-f"]])
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def split_lines(out: bytes):
    assert out == b"" or out.endswith(b"\n")
    return out.split(b"\n")[:-1]


def expected_order(lines, flags):
    return sorted(lines, key=ref_sort_key(flags), reverse="-r" in flags)


@SETTINGS
@given(lines=ndjson(), flags=FLAGS, cut=st.integers(0, 30))
def test_jlsort_output_is_the_input_in_order_in_every_mode(jlsort, monkeypatch, tmp_path_factory,
                                                           lines, flags, cut):
    import jlsort.parallel as par
    import jlsort.sort as sortmod
    data = b"".join(x + b"\n" for x in lines)
    want = expected_order(lines, flags)  # sorted(reverse=True) keeps ties in input order
    argv = [*flags, "-k", "k.v"]
    r = jlsort(*argv, stdin=data)
    assert r.rc == 0, r
    assert split_lines(r.out) == want
    with monkeypatch.context() as m:  # many runs, merged in several levels
        m.setattr(sortmod, "FANIN", 3)
        r = jlsort(*argv, "-c", "200", stdin=data)
        assert r.rc == 0, r
        assert split_lines(r.out) == want
    d = tmp_path_factory.mktemp("adv")
    f = d / "in.ndjson"
    f.write_bytes(data)
    with monkeypatch.context() as m:  # workers even for a few bytes
        m.setattr(par, "MIN_BYTES_PER_WORKER", 1)
        r = jlsort(*argv, "--parallel", "3", "-c", "300", f)
        assert r.rc == 0, r
        assert split_lines(r.out) == want
    # -m of two sorted parts (each sorted by jlsort itself)
    cut = min(cut, len(lines))
    parts = []
    for i, chunk in enumerate((lines[:cut], lines[cut:])):
        p = d / f"p{i}"
        p.write_bytes(jlsort(*argv, stdin=b"".join(x + b"\n" for x in chunk)).out)
        parts.append(p)
    r = jlsort(*argv, "-m", *parts)
    assert r.rc == 0, r
    assert split_lines(r.out) == want


@SETTINGS
@given(lines=ndjson(), flags=st.sampled_from([[], ["-n"], ["-f"]]))
def test_jluniq_groups_agree_with_jlsorts_order(jlsort, jluniq, lines, flags):
    data = b"".join(x + b"\n" for x in lines)
    sorted_out = jlsort(*flags, "-k", "k.v", stdin=data).out
    u = jluniq(*flags, "-k", "k.v", "-c", stdin=sorted_out)
    assert u.rc == 0, u
    # [value,count]: the value as jluniq printed it (numbers keep their text)
    groups = [(x[1:x.rindex(b",")], int(x[x.rindex(b",") + 1:-1])) for x in split_lines(u.out)]
    with_key = [x for x in lines if ref_value(x, ("k", "v")) is not MISSING]
    assert sum(c for _, c in groups) == len(with_key)
    # the group values, in order, are strictly increasing in jlsort's order: no group twice
    back = b"".join(b'{"k":{"v":' + v + b"}}\n" for v, _ in groups)
    r = jlsort(*flags, "-k", "k.v", "--check", "-u", stdin=back)
    assert r.rc == 0, (r, groups)
    # and there are as many as jlsort -u finds among the lines with the key
    uniq = jlsort(*flags, "-k", "k.v", "-u", "--missing", "skip", stdin=data)
    assert len(split_lines(uniq.out)) == len(groups)


@SETTINGS
@given(left=ndjson(12), right=ndjson(12), flags=st.sampled_from([[], ["-n"], ["-f"]]),
       mode=st.sampled_from([[], ["-a", "1"], ["--full"], ["-v", "1", "-v", "2"]]))
def test_jljoin_pairs_agree_with_a_nested_loop(jlsort, jljoin, tmp_path_factory, left, right,
                                               flags, mode):
    d = tmp_path_factory.mktemp("join")
    a, b = d / "a", d / "b"
    a.write_bytes(jlsort(*flags, "-k", "k.v", stdin=b"".join(x + b"\n" for x in left)).out)
    b.write_bytes(jlsort(*flags, "-k", "k.v", stdin=b"".join(x + b"\n" for x in right)).out)
    key = ref_sort_key(flags)

    def bare(x):
        x = x.strip()
        return x[3:].strip() if x.startswith(BOM) else x
    la = [x for x in left if ref_value(x, ("k", "v")) is not MISSING]
    lb = [x for x in right if ref_value(x, ("k", "v")) is not MISSING]
    want = Counter()
    for x in la:
        for y in lb:
            if key(x) == key(y) and "-v" not in mode:
                want[b"[" + bare(x) + b"," + bare(y) + b"]"] += 1
    unpaired_a = [x for x in la if not any(key(x) == key(y) for y in lb)]
    unpaired_b = [y for y in lb if not any(key(x) == key(y) for x in la)]
    if "-v" in mode:
        want.update(unpaired_a + unpaired_b)
    else:
        if "-a" in mode or "--full" in mode:
            want.update(b"[" + bare(x) + b",null]" for x in unpaired_a)
        if "--full" in mode:
            want.update(b"[null," + bare(y) + b"]" for y in unpaired_b)
    for extra in ([], ["--hash"]):
        r = jljoin(*flags, *extra, "-k", "k.v", *mode, a, b)
        assert r.rc == 0, r
        assert Counter(split_lines(r.out)) == want, extra
