"""MariaDB GTID positions: `domain-server-seq` per domain, as in @@gtid_binlog_pos.

A position is kept as a dict {domain: (server_id, seq)}. A transaction d-s-n is already applied
when the position holds domain d with a sequence number >= n (sequence numbers grow per domain).
"""
from __future__ import annotations

import re

_ONE = re.compile(r"^\s*(\d+)-(\d+)-(\d+)\s*$")


class GtidError(ValueError):
    pass


def parse_one(text: str) -> tuple[int, int, int]:
    m = _ONE.match(text)
    if not m:
        raise GtidError(f"not a MariaDB GTID (domain-server-seq): {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse(text: str | None) -> dict[int, tuple[int, int]]:
    """'0-1-123,1-5-9' -> {0: (1, 123), 1: (5, 9)}; '' or None -> {}."""
    out: dict[int, tuple[int, int]] = {}
    if not text:
        return out
    for part in text.split(","):
        if not part.strip():
            continue
        d, s, n = parse_one(part)
        if d in out:
            raise GtidError(f"domain {d} appears twice in {text!r}")
        out[d] = (s, n)
    return out


def format(state: dict[int, tuple[int, int]]) -> str:  # noqa: A001 - mirrors parse()
    return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(state.items()))


def is_applied(state: dict[int, tuple[int, int]], domain: int, seq: int) -> bool:
    cur = state.get(domain)
    return cur is not None and seq <= cur[1]


def advance(state: dict[int, tuple[int, int]], domain: int, server_id: int, seq: int) -> None:
    cur = state.get(domain)
    if cur is None or seq > cur[1]:
        state[domain] = (server_id, seq)


def covers(state: dict[int, tuple[int, int]], other: dict[int, tuple[int, int]]) -> bool:
    """True when every domain of `other` is applied in `state` up to its sequence number."""
    return all(is_applied(state, d, n) for d, (_s, n) in other.items())
