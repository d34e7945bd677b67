"""Property-based: for random NDJSON and random key specs, the output is the input lines in the
documented order, stably, in memory and through forced external sorts (tiny buffer, tiny fan-in).

The reference is the documented order written out here on values decoded by the standard json
module: missing < null < false < true < numbers (exact) < strings (code points) < arrays
(element-wise) < objects (sorted member names, then values); numeric keys: numbers first.
"""
from __future__ import annotations

import json
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
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return (0, v)
    if isinstance(v, str):  # -n reads numeric strings as numbers (as sort -n)
        try:
            if v.strip() and v.strip().lstrip("+-")[:1] in "0123456789." and "_" not in v:
                return (0, Decimal(v.strip()))
        except ArithmeticError:
            pass
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
