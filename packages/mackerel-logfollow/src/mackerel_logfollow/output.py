"""Mackerel plugin output: metric lines and graph definitions.

Metric line: ``name<TAB>value<TAB>epoch`` with the value printed like Go's ``%f`` (six decimals).
NaN and infinities are never printed: they are dropped and reported (`Metrics.dropped`).
"""
from __future__ import annotations

import json
import math
import os
import time

UNITS = ("float", "integer", "percentage", "seconds", "milliseconds", "bytes", "bytes/sec",
         "bits/sec", "iops")


class Metrics:
    """Collects metric lines in order; `render()` gives the bytes to write to stdout."""

    def __init__(self, epoch: int | None = None):
        self.epoch = int(time.time()) if epoch is None else int(epoch)
        self.lines: list[str] = []
        self.dropped: list[str] = []

    def add(self, name: str, value: float) -> None:
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            self.dropped.append(name)
            return
        self.lines.append(f"{name}\t{v:f}\t{self.epoch}\n")

    def render(self) -> bytes:
        return "".join(self.lines).encode()


def meta_requested() -> bool:
    """True when mackerel-agent asks for graph definitions (MACKEREL_AGENT_PLUGIN_META set)."""
    return bool(os.environ.get("MACKEREL_AGENT_PLUGIN_META"))


def graph(label: str, unit: str, metrics: list[tuple[str, str] | tuple[str, str, bool]]) -> dict:
    """One graph: metrics are (name, label[, stacked])."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit}")
    return {"label": label, "unit": unit,
            "metrics": [{"name": m[0], "label": m[1], "stacked": bool(m[2]) if len(m) > 2 else False}
                        for m in metrics]}


def render_graphdef(graphs: dict[str, dict]) -> bytes:
    """The `# mackerel-agent-plugin` header line and the JSON, as mackerel-agent reads them."""
    return b"# mackerel-agent-plugin\n" + json.dumps({"graphs": graphs}, separators=(",", ":")).encode() + b"\n"
