"""Graph definitions: printed instead of metrics when mackerel-agent sets
MACKEREL_AGENT_PLUGIN_META (once, at its start): the line ``# mackerel-agent-plugin`` then
``{"graphs":{"<graph>":{"label":..,"unit":..,"metrics":[{"name":..,"label":..,"stacked":..}]}}}``.
Graph and metric names may hold the wildcards ``*`` and ``#`` (dynamic keys)."""
from __future__ import annotations

import json
import os

UNITS = ("float", "integer", "percentage", "seconds", "milliseconds", "bytes", "bytes/sec",
         "bits/sec", "iops")


def meta_requested() -> bool:
    """True when mackerel-agent asks for graph definitions (MACKEREL_AGENT_PLUGIN_META set)."""
    return bool(os.environ.get("MACKEREL_AGENT_PLUGIN_META"))


def graph(label: str, unit: str, metrics: list[tuple[str, str] | tuple[str, str, bool]]) -> dict:
    """One graph: metrics are (name, label[, stacked]); unit one of UNITS."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit}")
    return {"label": label, "unit": unit,
            "metrics": [{"name": m[0], "label": m[1], "stacked": bool(m[2]) if len(m) > 2 else False}
                        for m in metrics]}


def render_graphdef(graphs: dict[str, dict]) -> bytes:
    """The `# mackerel-agent-plugin` header line and the JSON, as mackerel-agent reads them."""
    return (b"# mackerel-agent-plugin\n"
            + json.dumps({"graphs": graphs}, separators=(",", ":")).encode() + b"\n")
