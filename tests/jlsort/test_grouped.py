"""The grouped buffer (issue 13, speed): one string key with few distinct values is sorted by
grouping lines under their key (a dict filled in C) and sorting the distinct keys only; runs
then hold entries (one key per group of equal keys) and the merge moves whole entries.

Each path is checked against the simple reference (a stable sort on keys in the documented
order): in memory, external with many runs, a cascade under a tiny fan-in, the turn to the list
form (a block that is not all strings, too many distinct keys), -r, -u and --parallel."""
from __future__ import annotations

import io
import json
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jlsort import sort
from jlsort.keys import parse_keyspec
from jlsort.records import Extractor, Stats
from test_properties import MISSING, ref_key


def value(line):
    try:
        obj = json.loads(line, parse_float=Decimal)
    except ValueError:
        return MISSING
    return obj.get("k", MISSING) if isinstance(obj, dict) else MISSING


def reference(lines, desc=False, unique=False):
    out = sorted(lines, key=lambda x: ref_key(value(x)), reverse=desc)  # stable, -r too
    if unique:
        seen, keep = set(), []
        for x in out:
            k = ref_key(value(x))
            if k not in seen:
                seen.add(k)
                keep.append(x)
        out = keep
    return out


# -- the Sorter's methods --------------------------------------------------------------------------
# (sorter_for, extractor_for and written are also used by test_fastpaths)
def sorter_for(tmp_path, capacity=1 << 30, key="k"):
    specs = [parse_keyspec(key)]
    return specs, sort.Sorter(specs, capacity, str(tmp_path))


def extractor_for(specs):
    """The extractor as app._sort makes it (the Sorter shares equal key strings itself)."""
    ex = Extractor(specs, Stats("t"), "keep")
    ex.share = False
    return ex


def written(sorter, unique=False) -> bytes:
    """What the sort writes (sort.write_batches of the Sorter's batches)."""
    out = io.BytesIO()
    sort.write_batches(out, sorter.batches(unique), unique)
    return out.getvalue()


def _add(sorter, specs, values, start=0):
    lines = [json.dumps({"k": v, "i": start + i}).encode() for i, v in enumerate(values)]
    ex = extractor_for(specs)
    kept, comps, _ = ex.block(lines, "-", 0)
    sorter.add(kept, comps, None, ex.last_str)
    return lines


def _out(sorter, need_keys=False):
    got = []
    for batch in sorter.batches(need_keys):
        items = batch[1]
        for it in items:
            got += it.split(b"\n")
    return got


def test_few_distinct_strings_are_grouped_and_come_out_stably(tmp_path):
    specs, s = sorter_for(tmp_path)
    lines = _add(s, specs, ["b", "a", "b", "c", "a", "b"])
    assert s.groups is not None and s.lines == []
    lines += _add(s, specs, ["a", "c", "a", "b"], 6)
    assert s.groups is not None
    assert _out(s) == reference(lines)


def test_a_block_that_is_not_all_strings_turns_the_groups_into_a_sorted_list(tmp_path):
    specs, s = sorter_for(tmp_path)
    lines = _add(s, specs, ["b", "a", "b", "a"])
    assert s.groups is not None
    lines += _add(s, specs, [1, "a", None, "b"], 4)
    assert s.groups is None and len(s.lines) == 8
    lines += _add(s, specs, ["a", "a", "b"], 8)  # stays a list until the buffer is emptied
    assert s.groups is None
    assert _out(s) == reference(lines)


def test_many_distinct_keys_turn_the_groups_into_a_list(tmp_path):
    specs, s = sorter_for(tmp_path)
    lines = _add(s, specs, ["x", "y"] * 10)
    assert s.groups is not None
    vals = [f"{(i * 7919) % 10007:05d}" for i in range(6000)]
    lines += _add(s, specs, vals, 20)
    assert s.groups is None
    assert _out(s) == reference(lines)


def test_the_first_block_decides_many_distinct_keys_use_the_list(tmp_path):
    specs, s = sorter_for(tmp_path)
    _add(s, specs, ["a", "b", "c", "d"])
    assert s.groups is None and len(s.lines) == 4


def test_group_chunks_cut_big_groups_into_pieces():
    groups = [[b"1", b"2"], [b"3", b"4", b"5", b"6", b"7"], [b"8"], [b"9", b"10", b"11", b"12"]]
    keys, chunks, counts = sort._group_chunks(["a", "b", "c", "d"], groups, 2)
    assert keys == ["a", "b", "b", "b", "c", "d", "d"]
    assert chunks == [b"1\n2", b"3\n4", b"5\n6", b"7", b"8", b"9\n10", b"11\n12"]
    assert counts == [2, 2, 2, 1, 1, 2, 2]
    assert sort._group_chunks(["a"], [[b"x"]], 2) == (["a"], [b"x"], [1])


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 100])
def test_group_chunks_emptying_the_groups_gives_the_same_chunks(piece):
    """free=True (a spill: each group emptied as soon as it is joined, a big group cut into
    pieces too) gives the chunks of free=False and leaves every group empty."""
    rnd = random.Random(piece)
    groups = [[b"%d.%d" % (g, i) for i in range(rnd.randrange(1, 12))] for g in range(150)]
    order = [f"k{g:03d}" for g in range(150)]
    want = sort._group_chunks(order, [list(g) for g in groups], piece)
    emptied = [list(g) for g in groups]
    keys, chunks, counts = sort._group_chunks(order, emptied, piece, free=True)
    assert (list(keys), chunks, counts) == (list(want[0]), want[1], want[2])
    assert not any(emptied)
    assert b"\n".join(chunks).split(b"\n") == [x for g in groups for x in g]
    assert max(counts) <= piece


def test_a_grouped_run_reads_back_as_lines_and_as_entries(tmp_path):
    specs, s = sorter_for(tmp_path)
    s.block_records = 3  # blocks of about 3 lines; groups cut into pieces of 3
    lines = _add(s, specs, ["b", "a", "b", "b", "b", "a", "c", "b"])
    s.spill()
    (run,) = s.runs
    assert run.count == 8 and run.entries < 8
    expected = reference(lines)
    flat_keys, flat = [], []
    for ks, ls in run.blocks():
        assert len(ks) == len(ls)
        flat_keys += ks
        flat += ls
    assert flat == expected and flat_keys == [value(x) for x in expected]
    for per_read in (1, 2, 5):
        entries = [(k, c) for ks, cs in run.blocks(per_read, grouped=True) for k, c in zip(ks, cs)]
        assert b"\n".join(c for _, c in entries).split(b"\n") == expected
        assert all(value(x) == k for k, c in entries for x in c.split(b"\n"))
    s.close()


@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("unique", [False, True])
def test_grouped_runs_cascade_under_a_tiny_fanin(tmp_path, monkeypatch, desc, unique):
    monkeypatch.setattr(sort, "FANIN", 3)
    specs, s = sorter_for(tmp_path, key="k:r" if desc else "k")
    s.block_records = 4
    rnd = random.Random(3)
    lines = []
    for b in range(11):
        vals = [rnd.choice("abcde") for _ in range(40)]
        if b == 5:
            vals[3] = 7  # one list run among the grouped ones
        lines += _add(s, specs, vals, len(lines))
        s.spill()
    assert any(r.entries < r.count for r in s.runs)
    got = written(s, unique).splitlines()
    assert got == reference(lines, desc, unique)


def test_memrun_gives_lines_or_entries(tmp_path):
    specs, s = sorter_for(tmp_path)
    lines = _add(s, specs, ["b", "a", "b", "a", "b"])
    keys, items, counts, kinds, rev = s.take_entries()
    assert counts is not None and kinds == ("str",) and not rev
    m = sort.MemRun(keys, items, counts, kinds)
    assert m.count == 5 and m.entries == 2
    ((ks, ls),) = m.blocks()
    assert ls == reference(lines) and ks == ["a", "a", "b", "b", "b"]
    ((ks, ls),) = m.blocks(grouped=True)
    assert ks == ["a", "b"] and b"\n".join(ls).split(b"\n") == reference(lines)


# -- whole runs: the reference on random inputs ----------------------------------------------------
pool = st.lists(st.one_of(st.text(max_size=4).filter(lambda t: not any(
    0xD800 <= ord(c) <= 0xDFFF for c in t)), st.sampled_from(["a", "A", "é", "a\"", "\\"])),
    min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pool=pool, seed=st.integers(0, 10 ** 6), odd=st.sampled_from([0, 0.002, 0.05]),
       cap=st.sampled_from(["1g", "6k", "64k"]), desc=st.booleans(), unique=st.booleans(),
       n=st.integers(1, 4000))
def test_grouped_sort_matches_the_reference(jlsort, pool, seed, odd, cap, desc, unique, n):
    """String keys from a small pool (the grouped path), with now and then a value that is not
    a string, a line without the key or a line that is not JSON (the list path)."""
    rnd = random.Random(seed)
    lines = []
    for i in range(n):
        r = rnd.random()
        if r < odd:
            lines.append(rnd.choice([b"nope", b'{"x":1}', b'{"k":2}', b'{"k":null}', b"[1]"]))
            continue
        lines.append(json.dumps({"k": rnd.choice(pool), "i": i, "p": "x" * rnd.randrange(30)},
                                ensure_ascii=rnd.random() < 0.5).encode())
    argv = ["-k", "k:r" if desc else "k", "-c", cap] + (["-u"] if unique else [])
    r = jlsort(*argv, stdin=b"\n".join(lines) + b"\n")
    assert r.rc == 0, r
    assert r.lines == reference(lines, desc, unique)


@pytest.mark.parametrize("cap", ["8k", "1g"])
def test_grouped_sort_with_parallel_workers(jlsort, tmp_path, cap):
    rnd = random.Random(11)
    lines = [json.dumps({"k": rnd.choice(["x", "y", "z", "é"]), "i": i}).encode()
             for i in range(5000)]
    lines[2500] = b'{"k":5}'
    p = tmp_path / "in.ndjson"
    p.write_bytes(b"\n".join(lines) + b"\n")
    for extra in ([], ["-r"]):
        r = jlsort("-k", "k", "-c", cap, "--parallel", "2", *extra, p)
        assert r.rc == 0, r
        assert r.lines == reference(lines, desc=bool(extra))


def test_string_keys_are_first_decoded_as_required_strings():
    """Top-level keys are first decoded as required strings (no pass over the types); a block
    with another value (or none) is decoded again generally, and no more tries are made."""
    specs = [parse_keyspec("k")]
    ex = Extractor(specs, Stats("t"), "keep")
    block = [b'{"k":"%d","x":[1,{"k":2}]}' % (i % 3) for i in range(40)]
    kept, comps, _ = ex.block(block, "-", 0)
    assert comps == [[str(i % 3) for i in range(40)]] and ex.last_str == (True,)
    assert ex.str_dec is not None
    bad = block[:]
    bad[5] = b"nope"  # not JSON: decoded again line by line, the next blocks still try
    kept, comps, _ = ex.block(bad, "-", 0)
    assert len(kept) == 40 and comps[0][5] is not None and ex.last_str == (False,)
    assert ex.str_dec is not None
    other = block[:]
    other[7] = b'{"k":7}'
    kept, comps, _ = ex.block(other, "-", 0)
    assert comps[0][7] == 7 and ex.last_str == (False,) and ex.str_dec is None
    assert Extractor([parse_keyspec("a.b")], Stats("t")).str_dec is None
