"""Differential tests of core._KeyScan (2026-12-08): one key's value on every line read from the
key's occurrences (a sentinel per line, one findall, join and split on NUL) must be what the regex
per line (greedy: the last column labelled key wins) reads, or the chunk must be declined."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lltsv import core, filters

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [b"reqtime", b"req", b"re", b"", b"time", b"q", b"a.b", b"x+"]
COLUMNS = st.one_of(
    st.builds(lambda lb, v: lb + b":" + v, st.sampled_from(KEYS + [b"reqtimex", b"xreqtime", b"status"]),
              st.sampled_from([b"", b"0.7", b"1", b"x", b"a:b", b"reqtime:2", b"\x01", b"\r", b"-",
                               b"\treqtime"])),
    st.sampled_from([b"", b"junk", b"reqtime", b"req", b":", b"::", b"reqtime\x01"]))


@st.composite
def chunks(draw):
    """LF-terminated lines of any columns: labels that are prefixes of each other, the empty
    label, regex metacharacters in labels, columns without ':', empty columns and lines, a key
    twice on one line, empty values."""
    n = draw(st.integers(1, 40))
    lines = [b"\t".join(draw(st.lists(COLUMNS, max_size=5))) for _ in range(n)]
    return b"".join(ln + b"\n" for ln in lines)


def greedy(chunk, key):
    rx = re.compile(b"(?m)^(?:(?:[^\n]*\t)?" + re.escape(key) + b":([^\t\n]*))?[^\n]*\n")
    return rx.findall(chunk)


def twice_on_a_line(chunk, key):
    for ln in chunk.split(b"\n"):
        cols = ln.split(b"\t")
        if sum(c.startswith(key + b":") for c in cols) > 1:
            return True
    return False


_ORIGINAL_NEAR_END = core._KeyScan.near_end


@pytest.fixture(autouse=True)
def never_near_end(monkeypatch):
    """The sample heuristic would send some chunks to the regex per line: not here."""
    monkeypatch.setattr(core._KeyScan, "near_end", lambda self, chunk: False)


@SETTINGS
@example(b"reqtime:1\treqtime:2\n", b"reqtime")
@example(b"reqtime:\n\nreqtime:5\tx:1\n", b"reqtime")
@example(b"reqtime\treqtime:3\nreqtimex:4\n", b"reqtime")
@example(b"a:1\t:2\t:\n:x\n", b"")
@given(chunks(), st.sampled_from(KEYS))
def test_occurrences_give_the_last_value_of_every_line(chunk, key):
    scan = core._KeyScan(key)
    got = scan.values(chunk)
    if twice_on_a_line(chunk, key):
        assert got is None          # declined: the last value wins, the scan reads the first
        assert scan.failing == 8
    else:
        assert got == greedy(chunk, key)


@SETTINGS
@given(chunks(), st.sampled_from(KEYS))
def test_a_chunk_with_nul_is_declined(chunk, key):
    chunk = chunk.replace(b"\x01", b"\x00")
    got = core._KeyScan(key).values(chunk)
    if b"\x00" in chunk:
        assert got is None
    elif not twice_on_a_line(chunk, key):
        assert got == greedy(chunk, key)


def test_the_prefix_starts_at_the_rarest_byte_and_the_label_is_checked_behind():
    chunk = b"reqtime:0.5\tstatus:200\terror:no\n" * 20 + b"xqtime:9\tqtime:8\n"
    scan = core._KeyScan(b"reqtime")
    assert scan.values(chunk) == [b"0.5"] * 20 + [b""]
    assert scan.rx.pattern.startswith(b"qtime:(?<=")


def test_after_a_line_with_the_key_twice_the_next_chunks_are_declined():
    scan = core._KeyScan(b"a")
    assert scan.values(b"a:1\tb:2\ta:3\n") is None
    for _ in range(8):
        assert scan.values(b"a:1\n") is None
    assert scan.values(b"a:1\n") == [b"1"]


def test_near_end_sample():
    """(The original method: the autouse fixture replaces it on the class.)"""
    scan = core._KeyScan(b"k")
    near_end = _ORIGINAL_NEAR_END
    assert near_end(scan, b"a:" + b"x" * 90 + b"\tk:1\n")               # in the last fifth
    assert not near_end(scan, b"k:1\ta:" + b"x" * 90 + b"\n")           # at the start
    assert not near_end(scan, b"a:" + b"x" * 90 + b"\n")                # missing: all tail
    assert not near_end(scan, b"a:1\tk:2\n" * 3)                        # in the middle


# -- the engine: -f without -k, and -k of one key, through the scan, against the per-record path
FILTERS = [b"reqtime > 0.5", b"req =~ ^a", b"re != x", b" == 1", b"time <= 1"]


@SETTINGS
@given(chunks(), st.lists(st.sampled_from(FILTERS), min_size=1, max_size=3), st.booleans())
def test_engine_filters_and_one_key_through_the_scan(chunk, conds, with_key):
    fl = [filters.Filter(c) for c in conds]
    opts = core.Options(keys=[b"reqtime"] if with_key else None, filters=fl)
    eng = core.Engine(opts)
    eng._sig_failing = 3        # past the single-layout try: the one-key column is the scan's
    slow = core.Engine(opts)
    expect = slow._slow(chunk, "t", 0)
    assert eng.chunk(chunk, "t", 0) == expect
    assert eng.lines == chunk.count(b"\n")
    assert eng.problems == slow.problems
