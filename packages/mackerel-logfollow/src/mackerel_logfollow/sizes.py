"""Human sizes as go-humanize parses them: 10MB = 10**7, 1G = 10**9, 2GiB = 2**31."""
from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "ki": 2**10,
          "m": 10**6, "mb": 10**6, "mib": 2**20, "mi": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "gi": 2**30,
          "t": 10**12, "tb": 10**12, "tib": 2**40, "ti": 2**40,
          "p": 10**15, "pb": 10**15, "pib": 2**50, "pi": 2**50,
          "e": 10**18, "eb": 10**18, "eib": 2**60, "ei": 2**60}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text.replace(",", ""))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"invalid size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
