"""Speed paths of jlsort (issue 13, speed) against their simple reference paths, byte for byte.

- Reading: a regular file (and a --parallel range) gives the partial last line of a block back
  to the file (seek back) instead of copying it in front of the next block; a stream that
  cannot (a pipe, gzip) carries it over. Both must give the lines of `data.split(b"\\n")`.
"""
from __future__ import annotations

import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jlsort.parallel import RangeReader
from jlsort.records import iter_blocks, open_input

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
