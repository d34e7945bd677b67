"""Metric lines as mackerel-agent reads them: ``name<TAB>value<TAB>epoch``.

Values are printed like Go's ``%f`` (six decimals), or as whole numbers when asked
(`integer=True`, the upstream process-status counters). A name must match
``^[-a-zA-Z0-9_.]+$`` (the agent drops the others) and a value must be finite: NaN and infinities
are never printed. What is left out is listed in `dropped` / `invalid` and said once on stderr
(`note()`), never silently.
"""
from __future__ import annotations

import argparse
import math
import re
import time

NAME_RE = re.compile(r"[-a-zA-Z0-9_.]+")
PART_RE = re.compile(r"[-a-zA-Z0-9_.]*")


def key_prefix(text: str) -> str:
    """The argparse type of every plugin's --key-prefix: the one rule of the five plugins. A
    prefix goes into metric names, so it may hold only the characters of a metric name
    (letters, digits, `-`, `_`, `.`); anything else (`a b/c`) is a usage error (exit 3), never a
    metric set that mackerel-agent would drop or a name silently rewritten."""
    if not PART_RE.fullmatch(text):
        bad = "".join(sorted({c for c in text if not PART_RE.fullmatch(c)}))
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be part of a metric name (characters {bad!r}; allowed: "
            f"letters, digits, '-', '_', '.')")
    return text


class Metrics:
    """Collects metric lines in order; `render()` gives the bytes to write to stdout."""

    def __init__(self, epoch: int | None = None):
        self.epoch = int(time.time()) if epoch is None else int(epoch)
        self.lines: list[str] = []
        self.dropped: list[str] = []     # NaN or infinite values
        self.invalid: list[str] = []     # names outside ^[-a-zA-Z0-9_.]+$

    def add(self, name: str, value: float, *, integer: bool = False) -> None:
        if not NAME_RE.fullmatch(name):
            self.invalid.append(name)
            return
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            self.dropped.append(name)
            return
        text = str(int(value)) if integer else f"{v:f}"
        self.lines.append(f"{name}\t{text}\t{self.epoch}\n")

    def __len__(self) -> int:
        return len(self.lines)

    def render(self) -> bytes:
        return "".join(self.lines).encode()

    def note(self, prog: str) -> str | None:
        """One stderr line naming what was left out, or None."""
        parts = []
        if self.dropped:
            parts.append(f"not printed (NaN or infinite): {', '.join(self.dropped)}")
        if self.invalid:
            parts.append(f"not printed (name not ^[-a-zA-Z0-9_.]+$): {', '.join(self.invalid)}")
        return f"{prog}: {'; '.join(parts)}\n" if parts else None
