"""Speed paths of jlsort (issue 13, speed) against their simple reference paths, byte for byte.

- Reading: a regular file (and a --parallel range) gives the partial last line of a block back
  to the file (seek back) instead of copying it in front of the next block; a stream that
  cannot (a pipe, gzip) carries it over. Both must give the lines of `data.split(b"\\n")`.
- Grouping: while the buffer is grouped, the extractor decodes each line, reads its key and
  appends the line to the key's list in one pass (Sorter.feed_from); a line that fails undoes
  the appends of its block. Against the Sorter grouping the returned keys itself.
- After a spill, the next grouped buffer starts with the last one's keys in order (empty lists
  that never reach a run or the output).
"""
from __future__ import annotations

import io
import json
import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jlsort.parallel import RangeReader
from jlsort.records import iter_blocks, open_input
from test_grouped import extractor_for, reference, sorter_for, written

line_bytes = st.one_of(
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"", b"\r", b'{"k":"a"}', b'{"k":"a"}\r', b"x" * 40, b"y" * 300]))


def expected_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the final newline ends the last line
    return lines


def read_all(f, block):
    got = []
    for lines, data, end in iter_blocks(f, block, raw=True):
        assert data[:end] == b"\n".join(lines)
        got += lines
    return got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_bytes, max_size=40), final=st.booleans(),
       block=st.sampled_from([1, 2, 3, 7, 16, 64, 1000]))
def test_reading_a_regular_file_gives_the_lines_of_a_stream(tmp_path, lines, final, block):
    data = b"\n".join(lines) + (b"\n" if final and lines else b"")
    p = tmp_path / "in.ndjson"
    p.write_bytes(data)
    f = open_input(str(p))
    try:
        got = read_all(f, block)
    finally:
        f.close()
    want = expected_lines(data) if data else []
    assert got == read_all(io.BytesIO(data), block) == want


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_bytes, min_size=1, max_size=30), block=st.sampled_from([1, 3, 16, 1000]),
       cut=st.floats(0, 1))
def test_reading_a_range_gives_its_lines(tmp_path, lines, block, cut):
    data = b"\n".join(lines) + b"\n"
    # a range from a line start to another line start, as plan() cuts them
    starts = [0] + [i + 1 for i, c in enumerate(data) if c == 0x0A]
    a = starts[int(cut * (len(starts) - 1))]
    b = starts[-1] if a == starts[-1] else starts[min(len(starts) - 1, starts.index(a) + 2)]
    p = tmp_path / "in.ndjson"
    p.write_bytes(data + b"tail without the range")
    fd = os.open(p, os.O_RDONLY)
    try:
        got = read_all(RangeReader(fd, a, b), block)
    finally:
        os.close(fd)
    assert got == (expected_lines(data[a:b]) if b > a else [])


# -- the grouped buffer filled by the extractor (Sorter.feed_from) ------------------------------
def sort_in_blocks(data: bytes, key: str, capacity: int, block: int, unique: bool, fused: bool,
                   tmp_path, records=None) -> bytes:
    """What app._sort does, with tiny blocks: fused=True lets the extractor put the lines of a
    block into the grouped buffer itself, fused=False is the reference path (keys returned, the
    Sorter groups them). records: lines per run block, and per piece of a group cut at a spill."""
    specs, s = sorter_for(tmp_path, capacity, key)
    ex = extractor_for(specs)
    if records:
        s.block_records = records
    if fused:
        s.feed_from(ex)
    n = 0
    for lines in iter_blocks(io.BytesIO(data), block):
        kept, comps, _ = ex.block(lines, "-", n)
        n += len(lines)
        s.add(kept, comps, None, ex.last_str)
    return written(s, unique)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10 ** 6), n=st.integers(0, 1500), keys=st.integers(1, 40),
       odd=st.sampled_from([0, 0.001, 0.01, 0.2]), block=st.sampled_from([200, 2000, 1 << 16]),
       capacity=st.sampled_from([3000, 20000, 1 << 30]), desc=st.booleans(), unique=st.booleans())
def test_extractor_filling_the_groups_gives_the_reference_order(tmp_path, seed, n, keys, odd, block,
                                                              capacity, desc, unique):
    """Blocks of string keys from a small pool (grouped, the extractor filling the buffer), now
    and then a line that fails in the middle of a block (not JSON, a number, no key, a BOM: its
    block's appends are undone and the block takes the reference path), spills with tiny
    capacities (the next buffer starts with the keys of the last one)."""
    rnd = random.Random(seed)
    pool = [f"v{rnd.randrange(10 ** 6)}" for _ in range(keys)] + ["é", "A", 'a"b']
    lines = []
    for i in range(n):
        if i > n // 3 and rnd.random() < odd:
            lines.append(rnd.choice([b"nope", b'{"x":1}', b'{"k":2}', b'{"k":null}', b"[1]", b"",
                                     b'\xef\xbb\xbf{"k":"a"}', b'{"k":"\\ud800"}']))
        else:
            lines.append(json.dumps({"k": rnd.choice(pool), "i": i}).encode())
    data = b"".join(x + b"\n" for x in lines)
    key = "k:r" if desc else "k"
    got = sort_in_blocks(data, key, capacity, block, unique, True, tmp_path)
    want = sort_in_blocks(data, key, capacity, block, unique, False, tmp_path)
    assert got == want
    if not unique:
        assert sorted(got.splitlines()) == sorted(lines)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10 ** 6), n=st.integers(0, 2500), keys=st.integers(1, 6),
       records=st.sampled_from([1, 2, 5, 40]), capacity=st.sampled_from([1500, 6000, 1 << 30]),
       desc=st.booleans(), unique=st.booleans())
def test_spilled_groups_cut_into_pieces_give_a_stable_sort(tmp_path, seed, n, keys, records,
                                                           capacity, desc, unique):
    """Few keys, many lines, tiny run blocks: at each spill most groups are bigger than a piece
    and are cut, and every group is emptied as soon as it is joined (sort._group_chunks,
    free=True); the output is still the stable sort of the reference."""
    rnd = random.Random(seed)
    pool = [f"v{rnd.randrange(100)}" for _ in range(keys)]
    lines = [json.dumps({"k": rnd.choice(pool), "i": i}).encode() for i in range(n)]
    data = b"".join(x + b"\n" for x in lines)
    key = "k:r" if desc else "k"
    got = sort_in_blocks(data, key, capacity, 700, unique, True, tmp_path, records)
    assert got.splitlines() == reference(lines, desc, unique)


def test_a_failing_line_undoes_the_appends_of_its_block(tmp_path):
    specs, s = sorter_for(tmp_path)
    ex = extractor_for(specs)
    s.feed_from(ex)
    first = [b'{"k":"a"}', b'{"k":"b"}', b'{"k":"a"}', b'{"k":"b","m":0}']
    kept, comps, _ = ex.block(first, "-", 0)
    s.add(kept, comps, None, ex.last_str)
    assert s.groups is not None and ex.sink is s.groups
    second = [b'{"k":"b","n":1}', b'{"k":"c"}', b"nope", b'{"k":"a","n":2}']
    kept, comps, _ = ex.block(second, "-", 4)
    assert comps is not None  # the reference path, after the undo
    assert dict(s.groups) == {"a": [first[0], first[2]], "b": [first[1], first[3]]}
    s.add(kept, comps, None, ex.last_str)
    assert s.groups is None and ex.sink is None  # a line without the key: the list form
    third = [b'{"k":"c","n":3}', b'{"k":"a","n":4}']
    kept, comps, _ = ex.block(third, "-", 8)
    s.add(kept, comps, None, ex.last_str)
    assert written(s).splitlines() == [
        b"nope", first[0], first[2], second[3], third[1], first[1], first[3], second[0],
        second[1], third[0]]


def test_a_line_read_leniently_undoes_the_appends_and_the_groups_go_on(tmp_path):
    specs, s = sorter_for(tmp_path)
    ex = extractor_for(specs)
    s.feed_from(ex)
    first = [b'{"k":"a"}', b'{"k":"b"}', b'{"k":"a","m":1}', b'{"k":"b","m":1}']
    s.add(*ex.block(first, "-", 0)[:2], None, ex.last_str)
    second = [b'{"k":"c"}', b'\xef\xbb\xbf{"k":"a","bom":1}', b'{"k":"b","n":2}']
    kept, comps, _ = ex.block(second, "-", 4)
    assert comps == [["c", "a", "b"]]  # msgspec refused the BOM: undone, read leniently
    assert dict(s.groups) == {"a": first[0::2], "b": first[1::2]}
    s.add(kept, comps, None, ex.last_str)
    assert s.groups is not None and ex.sink is s.groups
    third = [b'{"k":"a","n":3}']
    assert ex.block(third, "-", 7)[1] is None
    s.add(third, None, None, ex.last_str)
    assert written(s).splitlines() == [first[0], first[2], second[1], third[0], first[1],
                                           first[3], second[2], second[0]]
