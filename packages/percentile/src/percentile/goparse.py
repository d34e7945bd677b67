"""Go's strconv.ParseFloat(s, 64) grammar, on bytes (what kazeburo/percentile accepts per line).

Accepted: optional sign, decimal digits with at most one '.', optional e/E exponent; hexadecimal
mantissas (0x...) with a mandatory p/P exponent; underscores only between digits (Go's rule:
after a digit or the base prefix, before a digit); "inf"/"infinity" with an optional sign and an
unsigned "nan", in any case. Rejected: everything else, including any whitespace, non-ASCII digits,
"+nan"/"-nan", and finite literals that overflow float64 ("value out of range").
"""
from __future__ import annotations

import math
import re

SYNTAX = "invalid syntax"
RANGE = "value out of range"

_DEC = re.compile(rb"[+-]?((?:[0-9_]+\.?[0-9_]*|\.[0-9_]+))(?:[eE][+-]?[0-9][0-9_]*)?")
_HEX = re.compile(rb"[+-]?0[xX]((?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+))[pP][+-]?[0-9][0-9_]*")
_DIGIT = re.compile(rb"[0-9]")
_HEXDIGIT = re.compile(rb"[0-9a-fA-F]")
_SPECIAL = {b"inf": math.inf, b"+inf": math.inf, b"-inf": -math.inf,
            b"infinity": math.inf, b"+infinity": math.inf, b"-infinity": -math.inf,
            b"nan": math.nan}


class GoFloatError(ValueError):
    """The text is not a Go float64; .reason is Go's wording ("invalid syntax", "value out of range")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def underscore_ok(s: bytes) -> bool:
    """Go's rule for '_' in number literals: only between digits (or after a base prefix)."""
    saw = "^"
    i = 0
    if s[:1] in (b"+", b"-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0:1] == b"0" and s[1:2] in b"bBoOxX":
        i = 2
        saw = "0"
        hexa = s[1:2] in b"xX"
    n = len(s)
    while i < n:
        c = s[i]
        if 48 <= c <= 57 or (hexa and (97 <= (c | 0x20) <= 102)):
            saw = "0"
        elif c == 95:  # '_'
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _without_underscores(s: bytes) -> bytes:
    """Go allows `_` only between digits (and after a base prefix); drop them once checked."""
    if b"_" in s:
        if not underscore_ok(s):
            raise GoFloatError(SYNTAX)
        s = s.replace(b"_", b"")
    return s


def parse_go_float(s: bytes) -> float:
    """Parse one whole line like Go's strconv.ParseFloat(s, 64); raise GoFloatError otherwise."""
    m = _DEC.fullmatch(s)
    if m is not None:
        if _DIGIT.search(m.group(1)) is None:
            raise GoFloatError(SYNTAX)
        s = _without_underscores(s)
        v = float(s)
        if v == math.inf or v == -math.inf:
            raise GoFloatError(RANGE)
        return v
    m = _HEX.fullmatch(s)
    if m is not None:
        if _HEXDIGIT.search(m.group(1)) is None:
            raise GoFloatError(SYNTAX)
        s = _without_underscores(s)
        try:
            return float.fromhex(s.decode("ascii"))
        except OverflowError:
            raise GoFloatError(RANGE) from None
    if 3 <= len(s) <= 9:
        v = _SPECIAL.get(s.lower())
        if v is not None:
            return v
    raise GoFloatError(SYNTAX)
