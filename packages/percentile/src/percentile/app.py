"""percentile's run: read every input in order, summarize each group, write the results, then
the summary of skipped lines on stderr.

What goes in: the parsed options (a), the percentiles (stats.Pct) and extra statistics already
validated by cli.py, and binary streams; what comes out: the exit status. An unreadable input is
`percentile: FILE: reason` (the others are still read, exit 1); --strict stops at the first bad
line (exit 1); a write error or a closed stdout propagates to the entry template (_entry.run).
"""
from __future__ import annotations

import os

from . import _entry, output
from .reader import Collector, StrictFailure, naive_sum
from .stats import summarize


def run(a, pcts, extra, stdin, stdout, stderr) -> int:
    files = a.files or ["-"]
    col = Collector(strict=a.strict,
                    key=os.fsencode(a.key) if a.key is not None else None,
                    group=os.fsencode(a.group) if a.group is not None else None,
                    fmt=a.input_format,
                    quantiles=_quantiles(a, pcts, extra))
    rc = 0
    for name in files:
        shown = "<stdin>" if name == "-" else name
        try:
            if name == "-":
                f = stdin
                close = False
            else:
                f = open(name, "rb")
                close = True
        except OSError as e:
            stderr.write(f"percentile: {name}: {e.strerror}\n".encode("utf-8", "surrogateescape"))
            rc = 1
            continue
        try:
            if col.key is not None:
                col.feed_ltsv(shown, f)
            else:
                col.feed_numbers(shown, f)
        except StrictFailure:
            fn, line, raw, why = col.first_bad
            stderr.write(f"percentile: {fn}:{line}: not a number: {_quote(raw)} ({why})\n"
                         .encode("utf-8", "surrogateescape"))
            return 1
        except OSError as e:
            stderr.write(f"percentile: {name}: {e.strerror}\n".encode("utf-8", "surrogateescape"))
            rc = 1
        finally:
            if close:
                f.close()

    groups = col.groups
    if a.scale is not None:
        sc = a.scale
        from array import array

        for g in groups.values():
            g.vals = array("d", [x * sc for x in g.vals])
            g.total = naive_sum(g.vals, 0.0)
    order = sorted(groups.items(), key=lambda kv: (-len(kv[1].vals), kv[0]))
    if a.top is not None:
        order = order[:a.top]
    render = {"json": output.as_json, "ltsv": output.ltsv}.get(a.fmt, output.text)
    parts = []
    for gv, g in order:
        s = summarize(g.vals, g.total, pcts, a.method, extra)
        g.vals = None
        if s is None:
            continue
        label = ("group", os.fsdecode(gv)) if a.group is not None else None
        if label and a.fmt is None and parts:
            parts.append("\n")
        parts.append(render(s, label))
    if parts:
        _entry.write_all(stdout, "".join(parts).encode("utf-8", "surrogateescape"))
    if not a.quiet:
        _summary(col, a.key, stderr)
    return rc



def _quantiles(a, pcts, extra) -> list | None:
    """The quantile positions of the wanted statistics, for reading numbers filtered around them
    (reader.Prefiltered), or None where every value is needed: -k/-g, --scale, stddev and var."""
    if a.key is not None or a.scale is not None or "stddev" in extra or "var" in extra:
        return None
    qs = [float(p.exact) for p in pcts]
    if "median" in extra:
        qs.append(0.5)
    return qs


def _quote(raw: bytes) -> str:
    """A rejected line as typed, in double quotes: bytes that are not UTF-8 and control characters
    as \\xNN, nothing else escaped (json.dumps showed a typed \\x as \\\\x)."""
    s = raw.decode("utf-8", "backslashreplace")
    if len(s) > 200:
        s = s[:200] + "..."
    s = "".join(f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in s)
    return f'"{s}"'


def _summary(col, key, stderr) -> None:
    msgs = []
    if col.bad:
        fn, line, raw, why = col.first_bad
        what = f"{key} value" if key is not None else "line"
        msgs.append(f"percentile: {col.bad} {what}{'s' if col.bad != 1 else ''} skipped (not a number), "
                    f"first at {fn}:{line}: {_quote(raw)} ({why})\n")
    if col.missing:
        msgs.append(f"percentile: {col.missing} record{'s' if col.missing != 1 else ''} without a "
                    f"value for {key} (absent, empty or \"-\")\n")
    if msgs:
        stderr.write("".join(msgs).encode("utf-8", "surrogateescape"))
