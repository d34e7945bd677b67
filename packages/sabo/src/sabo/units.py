"""Parsing of bandwidth values: go-humanize ParseBytes compatible, plus bits.

- a number (decimals and thousands commas allowed), an optional space, an optional unit;
- units are case-insensitive: b, k/kb, m/mb, g/gb, t/tb, p/pb, e/eb are SI (powers of 1000);
  ki/kib, mi/mib, gi/gib, ti/tib, pi/pib, ei/eib are IEC (powers of 1024);
- bits: a unit ending in "bit", "bits" or "bps" (100Mbit, 800mbps, 1Gibit) is divided by 8;
- an optional "/s" (12.5MB/s) is ignored.
"""
from __future__ import annotations

import re

_PREFIX = {"": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3, "t": 1000 ** 4, "p": 1000 ** 5,
           "e": 1000 ** 6, "ki": 1024, "mi": 1024 ** 2, "gi": 1024 ** 3, "ti": 1024 ** 4,
           "pi": 1024 ** 5, "ei": 1024 ** 6}
_NUM = re.compile(r"\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*(.*?)\s*\Z", re.S)
_MAX = 2 ** 64 - 1


def parse_size(text: str) -> int:
    """Bytes per second as an int; ValueError with a message on bad input."""
    m = _NUM.match(text)
    if not m:
        raise ValueError(f"invalid size {text!r}")
    num = float(m.group(1).replace(",", ""))
    unit = m.group(2).lower()
    if unit.endswith("/s"):
        unit = unit[:-2].rstrip()
    bits = False
    for suffix in ("bits", "bit", "bps"):
        if unit.endswith(suffix):
            unit, bits = unit[: -len(suffix)], True
            break
    else:
        if unit.endswith("b"):
            unit = unit[:-1]
    if unit not in _PREFIX:
        raise ValueError(f"unhandled size name: {m.group(2)!r}")
    value = num * _PREFIX[unit]
    if bits:
        value /= 8
    if value > _MAX:
        raise ValueError(f"too large: {text!r}")
    return int(value)


def format_rate(bps: float) -> str:
    """Human form of a byte rate, SI units as accepted by parse_size."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bps >= div:
            return f"{bps / div:.2f}{unit}B/s"
    return f"{bps:.0f}B/s"


def format_bytes(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}B"
    return f"{n}B"
