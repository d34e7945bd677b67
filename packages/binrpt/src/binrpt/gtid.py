"""GTID positions of both flavours, kept as a plain dict so that `dict(state)` is a copy.

MariaDB: `domain-server-seq` per domain, as in @@gtid_binlog_pos. The dict is {domain: (server_id,
seq)}; a transaction d-s-n is already applied when domain d holds a sequence number >= n (sequence
numbers grow per domain).

MySQL: a GTID *set*, as in @@gtid_executed: `uuid:1-5:7,uuid2:1-3`, with the tags of MySQL 8.4+
(`uuid:1-5:tag:1-3`, also written `uuid:tag:1-3`). The dict is {(uuid, tag): intervals}, where
intervals is a tuple of inclusive (start, end) pairs, sorted, disjoint and not adjacent (merged),
and tag is '' for untagged GTIDs. A transaction uuid[:tag]:n is applied when n is in its intervals.
The values are immutable tuples: `advance` replaces them, so copies never share changes.

The functions below take either kind; a MySQL key is a (uuid, tag) tuple, a MariaDB key an int.
"""
from __future__ import annotations

import bisect
import re

_ONE = re.compile(r"^\s*(\d+)-(\d+)-(\d+)\s*$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_INTERVAL = re.compile(r"^(\d+)(?:-(\d+))?$")
_TAG = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")


class GtidError(ValueError):
    pass


def parse_one(text: str) -> tuple[int, int, int]:
    m = _ONE.match(text)
    if not m:
        raise GtidError(f"not a MariaDB GTID (domain-server-seq): {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def looks_like_uuid(text: str) -> bool:
    return bool(_UUID.match(text.strip().lower()))


def is_mysql_text(text: str | None) -> bool:
    return bool(text) and ":" in text


def parse(text: str | None) -> dict:
    """'0-1-123,1-5-9' -> {0: (1, 123), 1: (5, 9)}; a MySQL GTID set -> {(uuid, tag): intervals};
    '' or None -> {}."""
    out: dict = {}
    if not text:
        return out
    if ":" in text:
        return parse_mysql(text)
    for part in text.split(","):
        if not part.strip():
            continue
        d, s, n = parse_one(part)
        if d in out:
            raise GtidError(f"domain {d} appears twice in {text!r}")
        out[d] = (s, n)
    return out


def _merge(intervals) -> tuple:
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1][1] = b
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def parse_mysql(text: str) -> dict:
    """'uuid:1-5:7,uuid2:tag:1-3' -> {(uuid, ''): ((1, 5), (7, 7)), (uuid2, 'tag'): ((1, 3),)}."""
    acc: dict = {}
    for part in text.replace("\n", "").split(","):
        part = part.strip()
        if not part:
            continue
        toks = part.split(":")
        uuid = toks[0].strip().lower()
        if not _UUID.match(uuid) or len(toks) < 2:
            raise GtidError(f"not a MySQL GTID set (uuid:interval[:interval...]): {part!r}")
        if "-" not in uuid:
            uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
        tag = ""
        for tok in toks[1:]:
            tok = tok.strip()
            m = _INTERVAL.match(tok)
            if m:
                a = int(m.group(1))
                b = int(m.group(2)) if m.group(2) else a
                if a < 1 or b < a:
                    raise GtidError(f"bad GTID interval {tok!r} in {part!r}")
                acc.setdefault((uuid, tag), []).append((a, b))
            elif _TAG.match(tok.lower()):
                tag = tok.lower()
            else:
                raise GtidError(f"not a MySQL GTID set: {tok!r} in {part!r}")
    return {k: _merge(v) for k, v in acc.items()}


def _fmt_intervals(iv) -> str:
    return ":".join(f"{a}" if a == b else f"{a}-{b}" for a, b in iv)


def format(state: dict) -> str:  # noqa: A001 - mirrors parse()
    if not state:
        return ""
    if isinstance(next(iter(state)), tuple):
        parts = []
        by_uuid: dict = {}
        for (uuid, tag), iv in state.items():
            if iv:
                by_uuid.setdefault(uuid, []).append((tag, iv))
        for uuid in sorted(by_uuid):
            txt = uuid
            for tag, iv in sorted(by_uuid[uuid]):
                txt += (f":{tag}" if tag else "") + ":" + _fmt_intervals(iv)
            parts.append(txt)
        return ",".join(parts)
    return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(state.items()))


def _contains(iv: tuple, n: int) -> bool:
    if not iv:
        return False
    last = iv[-1]
    if last[0] <= n <= last[1]:
        return True
    i = bisect.bisect_right(iv, (n, float("inf"))) - 1
    return i >= 0 and iv[i][0] <= n <= iv[i][1]


def is_applied(state: dict, domain, seq: int) -> bool:
    cur = state.get(domain)
    if cur is None:
        return False
    if isinstance(domain, tuple):
        return _contains(cur, seq)
    return seq <= cur[1]


def advance(state: dict, domain, server_id: int, seq: int) -> None:
    cur = state.get(domain)
    if isinstance(domain, tuple):
        if not cur:
            state[domain] = ((seq, seq),)
        elif cur[-1][1] + 1 == seq:
            state[domain] = cur[:-1] + ((cur[-1][0], seq),)
        elif not _contains(cur, seq):
            state[domain] = _merge(cur + ((seq, seq),))
        return
    if cur is None or seq > cur[1]:
        state[domain] = (server_id, seq)


def _iv_covers(have: tuple, want: tuple) -> bool:
    for a, b in want:
        i = bisect.bisect_right(have, (a, float("inf"))) - 1
        if i < 0 or not (have[i][0] <= a and b <= have[i][1]):
            return False
    return True


def covers(state: dict, other: dict) -> bool:
    """True when everything in `other` is applied in `state` (MariaDB: every domain up to its
    sequence number; MySQL: `other` is a subset of `state`)."""
    for d, v in other.items():
        if isinstance(d, tuple):
            if v and not _iv_covers(state.get(d, ()), v):
                return False
        elif not is_applied(state, d, v[1]):
            return False
    return True


def missing(state: dict, other: dict) -> int:
    """How many transactions of `other` are not applied in `state`."""
    n = 0
    for d, v in other.items():
        if isinstance(d, tuple):
            have = state.get(d, ())
            for a, b in v:
                for x, y in have:
                    lo, hi = max(a, x), min(b, y)
                    if lo <= hi:
                        n -= hi - lo + 1
                n += b - a + 1
        else:
            cur = state.get(d)
            n += max(0, v[1] - (cur[1] if cur else 0))
    return n


def subtract(state: dict, other: dict) -> dict:
    """MySQL sets: the GTIDs of `state` that are not in `other` (for messages)."""
    out = {}
    for d, v in state.items():
        if not isinstance(d, tuple):
            continue
        have = other.get(d, ())
        rest = []
        for a, b in v:
            cur = a
            for x, y in have:
                if y < cur or x > b:
                    continue
                if x > cur:
                    rest.append((cur, x - 1))
                cur = max(cur, y + 1)
            if cur <= b:
                rest.append((cur, b))
        if rest:
            out[d] = tuple(rest)
    return out


def has_tags(state: dict) -> bool:
    return any(isinstance(d, tuple) and d[1] for d in state)
