"""Bulk parsing (msgspec over a block) must agree exactly with the line-by-line Go grammar."""
import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from percentile import numparse
from percentile.goparse import GoFloatError, parse_go_float


def bulk(block: bytes):
    out, bad = [], []
    numparse.parse_block(block, out, lambda i, raw, why: bad.append((i, raw, why)))
    return out, bad


def reference(block: bytes):
    out, bad = [], []
    for i, line in enumerate(block.split(b"\n")):
        try:
            out.append(parse_go_float(line))
        except GoFloatError as e:
            bad.append((i, line, e.reason))
    return out, bad


def bits(xs):
    return [struct.pack("<d", x) for x in xs]   # exact, NaN- and -0-aware


TOKENS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: repr(x).encode()),
    st.integers(-10**30, 10**30).map(lambda i: str(i).encode()),
    st.sampled_from([b"", b"-", b"abc", b" 3", b"4 ", b"1,5", b"-0", b"-0.0", b"-1e-400", b"1e400",
                     b".5", b"5.", b"+5", b"0x1p3", b"1_000", b"inf", b"-Inf", b"NaN", b"-nan", b"null",
                     b"true", b'"1"', b"[1]", b"]", b"[", b"1]", b"{}", b"1\r", b"\r", b"01", b"1e5",
                     b"0", b"-0e5", b"1x", b"\xff", b"1 2", b"\t"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, min_size=1, max_size=60))
def test_bulk_equals_line_by_line(tokens):
    block = b"\n".join(tokens)
    got, gbad = bulk(block)
    want, wbad = reference(block)
    assert bits(got) == bits(want)
    assert gbad == wbad


def test_many_bad_lines_switch_to_line_by_line():
    toks = []
    for i in range(2000):
        toks.append(str(i).encode())
        if i % 10 == 0:
            toks.append(b"-")          # more than MAX_RESYNC bad lines in the block
    block = b"\n".join(toks)
    assert bulk(block) == reference(block)
    assert len(bulk(block)[1]) == 200


def test_type_errors_far_into_a_block():
    toks = [b"1.5"] * 5000 + [b"null"] + [b"2"] * 10 + [b'"x"'] + [b"3"]
    got, bad = bulk(b"\n".join(toks))
    assert bad == [(5000, b"null", "invalid syntax"), (5011, b'"x"', "invalid syntax")]
    assert len(got) == 5000 + 10 + 1


def test_negative_zero_kept():
    got, bad = bulk(b"1\n-0\n-0.000\n-1e-999\n0")
    assert not bad
    assert [math.copysign(1, x) for x in got] == [1, -1, -1, -1, 1]


def test_single_empty_line():
    assert bulk(b"") == ([], [(0, b"", "invalid syntax")])
