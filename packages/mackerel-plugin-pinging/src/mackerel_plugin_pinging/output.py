"""Mackerel metric lines (`name\\tvalue\\tepoch`, values printed like Go's %f) and the graph
definition printed when MACKEREL_AGENT_PLUGIN_META is set. Returns bytes; no I/O."""
from __future__ import annotations

import json

from .stats import Result, jitter, percentile_key, stddev, summarize

ERROR_REASONS = ("timeout", "unreachable", "send_error", "other")


def line(name: str, value: float, epoch: int) -> str:
    return f"{name}\t{value:f}\t{epoch}\n"


def metric_lines(prefix: str, res: Result, epoch: int, percentiles: list[float],
                 extended: bool = False) -> list[str]:
    """The upstream metric set for one host (count lines always, RTT lines when any reply came
    back), plus, with `extended`, stddev/jitter, loss percentage and failures by reason."""
    out = [
        line(f"pinging.{prefix}_rtt_count.success", res.success, epoch),
        line(f"pinging.{prefix}_rtt_count.error", res.error, epoch),
    ]
    summary = summarize(res.rtts, percentiles)
    for k, v in summary.items():
        out.append(line(f"pinging.{prefix}_rtt_ms.{k}", v, epoch))
    if extended:
        if res.rtts:
            out.append(line(f"pinging.{prefix}_rtt_ms.stddev", stddev(res.rtts), epoch))
            out.append(line(f"pinging.{prefix}_rtt_ms.jitter", jitter(res.rtts), epoch))
        out.append(line(f"pinging.{prefix}_loss.percentage", res.loss_percentage, epoch))
        counted = sum(res.errors.values())
        other = res.errors.get("other", 0) + (res.error - counted)  # never lose a failure
        for reason in ERROR_REASONS:
            v = other if reason == "other" else res.errors.get(reason, 0)
            out.append(line(f"pinging.{prefix}_errors.{reason}", v, epoch))
    return out


def graph_definition(prefixes: list[str], percentiles: list[float], extended: bool = False) -> bytes:
    graphs: dict[str, dict] = {}
    for p in prefixes:
        graphs[f"pinging.{p}_rtt_count"] = {
            "label": f"Pinging {p} count",
            "unit": "integer",
            "metrics": [
                {"name": "success", "label": "Success", "stacked": True},
                {"name": "error", "label": "Error", "stacked": True},
            ],
        }
        rtt = [{"name": "max", "label": "Max", "stacked": False},
               {"name": "min", "label": "Min", "stacked": False},
               {"name": "average", "label": "Average", "stacked": False}]
        rtt += [{"name": percentile_key(q), "label": f"{q:g} percentile", "stacked": False}
                for q in percentiles]
        if extended:
            rtt += [{"name": "stddev", "label": "Stddev", "stacked": False},
                    {"name": "jitter", "label": "Jitter", "stacked": False}]
        graphs[f"pinging.{p}_rtt_ms"] = {"label": f"Pinging {p} RTT", "unit": "milliseconds",
                                         "metrics": rtt}
        if extended:
            graphs[f"pinging.{p}_loss"] = {
                "label": f"Pinging {p} loss", "unit": "percentage",
                "metrics": [{"name": "percentage", "label": "Loss", "stacked": False}]}
            graphs[f"pinging.{p}_errors"] = {
                "label": f"Pinging {p} errors", "unit": "integer",
                "metrics": [{"name": r, "label": r.replace("_", " ").capitalize(), "stacked": True}
                            for r in ERROR_REASONS]}
    return ("# mackerel-agent-plugin\n" + json.dumps({"graphs": graphs}) + "\n").encode()
