"""Rendering a Summary: kazeburo's text lines, one LTSV record, or one JSON object."""
from __future__ import annotations

import json
import math

from .stats import Summary


def go_f4(x: float) -> str:
    """Go's fmt "%.4f": like Python's, but +Inf, -Inf and NaN spelled Go's way."""
    if x != x:
        return "NaN"
    if x == math.inf:
        return "+Inf"
    if x == -math.inf:
        return "-Inf"
    return "%.4f" % x


def _fields(s: Summary) -> list[tuple[str, str]]:
    out = [("count", str(s.count)), ("max", go_f4(s.max)), ("avg", go_f4(s.avg)), ("min", go_f4(s.min))]
    out += [(name, go_f4(v)) for name, v in s.extra]
    out += [(f"{label}pt", go_f4(v)) for label, v in s.pcts]
    return out


def text(s: Summary, group: tuple[str, str] | None = None) -> str:
    head = f"{group[0]}: {group[1]}\n" if group else ""
    return head + "".join(f"{k}: {v}\n" for k, v in _fields(s))


def ltsv(s: Summary, group: tuple[str, str] | None = None) -> str:
    f = _fields(s)
    if group:
        f.insert(0, (group[0], _ltsv_value(group[1])))
    return "\t".join(f"{k}:{v}" for k, v in f) + "\n"


def _ltsv_value(v: str) -> str:
    return v.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _num(x: float):
    return x if math.isfinite(x) else None


def _json_str(v: str) -> str:
    """Bytes that are not UTF-8 (kept as surrogates) become U+FFFD: JSON must be valid UTF-8."""
    return v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def as_json(s: Summary, group: tuple[str, str] | None = None) -> str:
    d: dict = {}
    if group:
        d[_json_str(group[0])] = _json_str(group[1])
    d["count"] = s.count
    d["max"] = _num(s.max)
    d["avg"] = _num(s.avg)
    d["min"] = _num(s.min)
    for name, v in s.extra:
        d[name] = _num(v)
    for label, v in s.pcts:
        d[f"{label}pt"] = _num(v)
    return json.dumps(d, ensure_ascii=False, allow_nan=False) + "\n"
