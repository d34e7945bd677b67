"""Bulk parsing of newline-separated numbers with Go's float grammar (see goparse).

A block of complete lines is parsed in one msgspec call: newlines become commas and the block is
decoded as a JSON array of floats. JSON numbers are a subset of Go's float syntax with the same
(correctly rounded) values, so every line JSON accepts is a line Go accepts. Whitespace and commas
inside lines are first turned into an invalid byte, so JSON's leniency (spaces around numbers)
cannot let through a line Go would reject. A line JSON rejects (`.5`, `inf`, `0x1p3`, `1_000`,
`abc`, an empty line, ...) is located from the decoder's error position and parsed on its own by
goparse, which has the final word; decoding then resumes after it. Past a few such lines in one
block, the rest of the block is parsed line by line.
"""
from __future__ import annotations

import re
from typing import Callable

from .goparse import GoFloatError, parse_go_float

# on_bad(line_index_in_block, line_bytes, reason)
BadFn = Callable[[int, bytes, str], None]

_TR = bytes.maketrans(b"\n \t\r,", b",xxxx")
_BYTE = re.compile(r"\(byte (\d+)\)")
_INDEX = re.compile(r"\$\[(\d+)\]")
MAX_RESYNC = 32          # located bad lines per block before going line by line

_decoder = None
_errors: tuple = ()


def _init() -> None:
    global _decoder, _errors
    import msgspec  # heavy-ish: imported on first use, after argument parsing

    _decoder = msgspec.json.Decoder(list[float])
    _errors = (msgspec.DecodeError,)  # ValidationError is a subclass of DecodeError


def parse_lines(lines: list[bytes], first: int, out: list, on_bad: BadFn) -> None:
    """The slow path: one line at a time."""
    append = out.append
    for i, line in enumerate(lines, first):
        try:
            append(parse_go_float(line))
        except GoFloatError as e:
            on_bad(i, line, e.reason)


def decode_block(block: bytes, on_bad: BadFn) -> list:
    """The values of the LF-separated lines of `block` (no final LF) as a new list: the decoder's
    own list when every line is a JSON number (no copy), else parse_block's."""
    if _decoder is None:
        _init()
    if block:
        try:
            vals = _decoder.decode(b"[" + block.translate(_TR) + b"]")
        except _errors:
            pass
        else:
            if vals:                   # (one empty line alone decodes as [])
                if 0.0 in vals and b"-" in block:
                    _fix_signed_zeros(block, 0, len(block) + 1, vals)
                return vals
    out: list = []
    parse_block(block, out, on_bad)
    return out


def parse_block(block: bytes, out: list, on_bad: BadFn) -> None:
    """Append the values of the LF-separated lines of `block` (no final LF) to `out`."""
    if _decoder is None:
        _init()
    if not block:
        on_bad(0, b"", "invalid syntax")
        return
    buf = bytearray(b"[")
    buf += block.translate(_TR)
    buf += b"]"
    mv = memoryview(buf)
    end = len(buf) - 1          # index of the closing ']'
    start = 0                   # index of the separator opening the current segment
    line = 0                    # line index (in block) of the segment's first line
    counted = 0                 # block offset up to which newlines were counted into `line`
    resyncs = 0
    neg = b"-" in block
    decode = _decoder.decode
    try:
        while True:
            buf[start] = 0x5B  # '['
            try:
                vals = decode(mv[start:end + 1])
            except _errors as e:
                msg = str(e)
            else:
                if not vals:                                 # a single empty line: "[]"
                    on_bad(line + block.count(b"\n", counted, start), b"", "invalid syntax")
                    return
                if neg and 0.0 in vals:
                    _fix_signed_zeros(block, start, end, vals)
                out.extend(vals)
                return
            # locate the offending line: [ls, le) in buf
            m = _BYTE.search(msg)
            if m is not None:
                q = start + int(m.group(1))
                if q > end:
                    q = end
                ls = buf.rfind(b",", start + 1, q) + 1
                if ls <= start:
                    ls = start + 1
            else:
                m = _INDEX.search(msg)
                if m is None or resyncs >= MAX_RESYNC:
                    break
                k = int(m.group(1))
                ls = start + 1
                for _ in range(k):
                    ls = buf.find(b",", ls, end) + 1
                    if ls == 0:
                        break
                if ls == 0:
                    break
            le = buf.find(b",", ls, end)
            if le < 0:
                le = end
            if ls - 1 > start:                                # the lines before it are fine
                buf[ls - 1] = 0x5D  # ']'
                try:
                    vals = decode(mv[start:ls])
                except _errors:
                    vals = None
                buf[ls - 1] = 0x2C
                if vals is None:                              # mislocated: go line by line
                    break
                if neg and 0.0 in vals:
                    _fix_signed_zeros(block, start, ls - 1, vals)
                out.extend(vals)
            line += block.count(b"\n", counted, ls - 1)
            counted = ls - 1
            raw = block[ls - 1:le - 1]
            try:
                out.append(parse_go_float(raw))
            except GoFloatError as err:
                on_bad(line, raw, err.reason)
            if le >= end:
                return
            start = le
            resyncs += 1
            if resyncs >= MAX_RESYNC:
                break
        # line by line for the rest (from segment `start`)
        line += block.count(b"\n", counted, start)
        parse_lines(block[start:].split(b"\n"), line, out, on_bad)
    finally:
        mv.release()


def _fix_signed_zeros(block: bytes, start: int, end: int, vals: list) -> None:
    """JSON decoding loses the sign of "-0" and of negative underflows; Go keeps it."""
    lines = block[start:end - 1].split(b"\n") if end - 1 > start else [b""]
    for i, v in enumerate(vals):
        if v == 0.0 and lines[i].startswith(b"-"):
            vals[i] = -0.0
