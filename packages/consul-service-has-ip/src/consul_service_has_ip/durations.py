# The suite's daemon template durations.py: copied byte for byte from scripts/templates/daemon/durations.py into
# each server package that lists "daemon/durations" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""Go's time.ParseDuration syntax ("300ms", "1h2m3.5s", "-1.5h", "0") -> seconds as a float."""
from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration; ValueError (with Go's wording) when it is not one. A number
    needs a unit, except 0."""
    s = text
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, pos = 0.0, 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            if re.match(r"(\d+\.?\d*|\.\d+)$", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def duration_arg(text: str) -> float:
    """argparse type= for a non-negative duration."""
    import argparse
    try:
        v = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if v < 0:
        raise argparse.ArgumentTypeError(f'negative duration "{text}"')
    return v


def format_duration(seconds: float) -> str:
    """A short Go-like rendering for help texts and logs: 3s, 300ms, 1m0s."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{int(m)}m{s:g}s"
    h, m = divmod(m, 60)
    return f"{int(h)}h{int(m)}m{s:g}s"
