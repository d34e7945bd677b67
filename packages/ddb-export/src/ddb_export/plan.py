"""--plan: how long a full scan takes within the budget, from describe_table or the overrides."""
from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
          "KI": 1024, "MI": 1024**2, "GI": 1024**3, "TI": 1024**4}


def parse_size(text: str) -> int:
    """`20Gi`, `1.5G`, `512K`, `123` -> bytes (K/M/G/T decimal, Ki/Mi/Gi/Ti binary; a trailing B
    is allowed)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTkmgt][iI]?)?[bB]?\s*", text)
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 20Gi, 512M, 1000000)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()] + 0.5) if "." in m.group(1) \
        else int(m.group(1)) * _UNITS[(m.group(2) or "").upper()]


def plan(items: int, nbytes: int, rcu: float, consistent: bool) -> dict:
    """One JSON object: a read unit reads 8 KiB per second eventually consistent, 4 KiB with
    --consistent (the post: 20 GiB at 1,000 units = 43.7 minutes)."""
    per_unit = 4096 if consistent else 8192
    minutes = nbytes / (rcu * per_unit * 60) if rcu > 0 else None
    return {"items": items, "bytes": nbytes,
            "avg_item_bytes": round(nbytes / items) if items else 0,
            "rcu": rcu, "consistent": consistent,
            "scan_minutes": None if minutes is None else round(minutes, 1)}
