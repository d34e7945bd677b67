"""Go's text formats that the upstream report uses: time.Duration strings, RFC 3339 times with
nanoseconds, encoding/json numbers and strings, and duration parsing. Pure functions."""
from __future__ import annotations

import datetime
import decimal
import json
import math
import re

_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
       "m": 60_000_000_000, "h": 3_600_000_000_000}
_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def _frac(v: int, digits: int) -> str:
    """`v` units with `digits` decimal places, trailing zeros (and a bare dot) trimmed."""
    whole, rest = divmod(v, 10 ** digits)
    if not rest:
        return str(whole)
    return f"{whole}.{rest:0{digits}d}".rstrip("0")


def duration(ns: int) -> str:
    """Go's time.Duration.String(): 0s, 850ns, 1.5µs, 2.25ms, 1.70378355s, 2m3.5s, 1h0m0s."""
    ns = int(ns)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_frac(u, 6)}ms"
    h, rem = divmod(u, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    s = _frac(rem, 9)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration (`100ms`, `1m30s`, `0`), in nanoseconds. ValueError if invalid."""
    t = text.strip()
    if t in ("0", "+0", "-0"):
        return 0
    neg = t.startswith("-")
    if t[:1] in "+-":
        t = t[1:]
    pos, total = 0, 0
    for m in _DUR_RE.finditer(t):
        if m.start() != pos:
            break
        total += int(decimal.Decimal(m.group(1)) * _NS[m.group(2)])
        pos = m.end()
    if not t or pos != len(t):
        raise ValueError(f"invalid duration {text!r}")
    return -total if neg else total


def rfc3339nano(epoch_ns: int) -> str:
    """Go's time.Time JSON form: RFC 3339, local offset (Z for UTC), fraction trimmed of zeros."""
    secs, ns = divmod(int(epoch_ns), 1_000_000_000)
    dt = datetime.datetime.fromtimestamp(secs).astimezone()
    out = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ns:
        out += "." + f"{ns:09d}".rstrip("0")
    off = dt.utcoffset() or datetime.timedelta(0)
    if not off:
        return out + "Z"
    total = int(off.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return out + f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


def json_float(x: float) -> str:
    """encoding/json's float64: shortest digits, no exponent in [1e-6, 1e21), no `.0`."""
    if math.isnan(x) or math.isinf(x):
        return "0"
    if x == 0:
        return "0"
    a = abs(x)
    r = repr(float(x))
    if 1e-6 <= a < 1e21:
        d = decimal.Decimal(r)
        s = format(d, "f")
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s
    m, _, e = r.partition("e")
    if not e:
        m, e = format(x, ".17e").split("e")
    m = m.rstrip("0").rstrip(".") if "." in m else m
    exp = int(e)
    return f"{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _json_str(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def encode(value, indent: str = "  ", _level: int = 0) -> str:
    """Go's json.MarshalIndent(v, "", "  ") for dicts (ordered), lists, str, int, float, bool, None."""
    pad = indent * (_level + 1)
    end = indent * _level
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{_json_str(str(k))}: {encode(v, indent, _level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [pad + encode(v, indent, _level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")
