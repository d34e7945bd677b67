"""Splitting input into blocks of whole lines, like Go's bufio.ScanLines but without a size limit."""
import io

from hypothesis import given, settings
from hypothesis import strategies as st
from percentile import reader


def go_lines(data: bytes) -> list[bytes]:
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"1", b"22", b"\r", b"\n", b"\r\n", b"x" * 9, b"3.5"]), max_size=40),
       st.integers(1, 9))
def test_blocks_are_whole_lines_at_any_block_size(pieces, size):
    data = b"".join(pieces)
    got = [ln for blk in reader.blocks(io.BytesIO(data), size) for ln in blk.split(b"\n")]
    assert got == go_lines(data)


def test_a_line_much_longer_than_a_block(monkeypatch):
    monkeypatch.setattr(reader, "BLOCK", 1024)
    big = b"7" * 3_000_000
    blks = list(reader.blocks(io.BytesIO(b"1\r\n" + big + b"\r\n2")))
    assert b"\n".join(blks).split(b"\n") == [b"1", big, b"2"]
