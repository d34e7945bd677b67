"""Numbers as Go's strconv.ParseFloat(s, 64) reads them, on bytes.

Accepted: optional sign, decimal digits with an optional fraction and exponent, hexadecimal
mantissas with a mandatory p-exponent (0x1.8p1), underscores between digits, inf/infinity (any case,
optional sign) and nan (any case, no sign). Rejected: surrounding whitespace, 0x10 (no p), a value
that overflows float64 ("value out of range"), anything else. Underflow gives 0.

`parse(b)` returns a float or None; `fast_floats(values)` converts a whole list at C speed when every
value is a plain decimal (the common case) and returns None when any needs the careful path.
"""
from __future__ import annotations

import math
import re

_DEC = re.compile(rb"[+-]?(?=\.?[0-9])[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?")
_HEX = re.compile(rb"[+-]?0[xX](?=[._]?[0-9a-fA-F])[0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?[pP][+-]?[0-9_]+")
_SPECIAL = {b"inf": math.inf, b"+inf": math.inf, b"-inf": -math.inf,
            b"infinity": math.inf, b"+infinity": math.inf, b"-infinity": -math.inf,
            b"nan": math.nan}
_PLAIN = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _underscores_ok(s: bytes) -> bool:
    """Go's rule: an underscore only between digits, or between a base prefix and a digit."""
    i = 0
    if s[:1] in (b"+", b"-"):
        i = 1
    hexa = False
    saw = "^"
    if len(s) - i >= 2 and s[i:i + 1] == b"0" and s[i + 1:i + 2] in (b"x", b"X"):
        i += 2
        saw = "0"
        hexa = True
    while i < len(s):
        c = s[i]
        if 48 <= c <= 57 or (hexa and (97 <= (c | 32) <= 102)):
            saw = "0"
        elif c == 95:  # _
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def parse(s: bytes) -> float | None:
    """Go ParseFloat(s, 64) or None when Go reports an error."""
    if not s:
        return None
    if _PLAIN.fullmatch(s):
        v = float(s)
        return None if math.isinf(v) else v
    low = s.lower()
    if low in _SPECIAL:
        return _SPECIAL[low]
    if _DEC.fullmatch(s):
        if b"_" in s and not _underscores_ok(s):
            return None
        try:
            v = float(s.replace(b"_", b""))
        except ValueError:
            return None
        return None if math.isinf(v) else v
    if _HEX.fullmatch(s):
        if b"_" in s and not _underscores_ok(s):
            return None
        try:
            return float.fromhex(s.replace(b"_", b"").decode("ascii"))
        except (ValueError, OverflowError):
            return None
    return None


_NOT_PLAIN = (b" ", b"_", b"n", b"N", b"i", b"I", b"x", b"X", b"p", b"P", b"\x0b", b"\x0c", b"\r")
_INF = math.inf
_NINF = -math.inf


def fast_floats(values: list[bytes]) -> list[float] | None:
    """float() of every value when all are plain decimals Go and Python read alike, else None."""
    joined = b"\n".join(values)
    for c in _NOT_PLAIN:
        if c in joined:
            return None
    try:
        out = list(map(float, values))
    except ValueError:
        return None
    if _INF in out or _NINF in out:  # overflow: Go says "value out of range"
        return None
    return out
