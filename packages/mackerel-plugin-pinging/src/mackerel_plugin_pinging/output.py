"""The metric set of one host and the graph definitions, on mackerel-plugin-helper (which prints
`name\\tvalue\\tepoch` like Go's %f and the `# mackerel-agent-plugin` JSON). No I/O."""
from __future__ import annotations

from mackerel_plugin_helper.graphs import graph, render_graphdef
from mackerel_plugin_helper.metrics import Metrics

from .stats import Result, jitter, percentile_key, stddev, summarize

ERROR_REASONS = ("timeout", "unreachable", "send_error", "other")


def add_metrics(m: Metrics, prefix: str, res: Result, percentiles: list[float],
                extended: bool = False) -> None:
    """The upstream metric set for one host (count lines always, RTT lines when any reply came
    back), plus, with `extended`, stddev/jitter, loss percentage and failures by reason."""
    m.add(f"pinging.{prefix}_rtt_count.success", res.success)
    m.add(f"pinging.{prefix}_rtt_count.error", res.error)
    for k, v in summarize(res.rtts, percentiles).items():
        m.add(f"pinging.{prefix}_rtt_ms.{k}", v)
    if extended:
        if res.rtts:
            m.add(f"pinging.{prefix}_rtt_ms.stddev", stddev(res.rtts))
            m.add(f"pinging.{prefix}_rtt_ms.jitter", jitter(res.rtts))
        m.add(f"pinging.{prefix}_loss.percentage", res.loss_percentage)
        counted = sum(res.errors.values())
        other = res.errors.get("other", 0) + (res.error - counted)  # never lose a failure
        for reason in ERROR_REASONS:
            v = other if reason == "other" else res.errors.get(reason, 0)
            m.add(f"pinging.{prefix}_errors.{reason}", v)


def metric_lines(prefix: str, res: Result, epoch: int, percentiles: list[float],
                 extended: bool = False) -> list[str]:
    """add_metrics() for one host as text lines (epoch given)."""
    m = Metrics(epoch)
    add_metrics(m, prefix, res, percentiles, extended)
    return m.lines


def graph_defs(prefixes: list[str], percentiles: list[float], extended: bool = False) -> dict:
    graphs: dict[str, dict] = {}
    for p in prefixes:
        graphs[f"pinging.{p}_rtt_count"] = graph(f"Pinging {p} count", "integer",
                                                 [("success", "Success", True), ("error", "Error", True)])
        rtt = [("max", "Max"), ("min", "Min"), ("average", "Average")]
        rtt += [(percentile_key(q), f"{q:g} percentile") for q in percentiles]
        if extended:
            rtt += [("stddev", "Stddev"), ("jitter", "Jitter")]
        graphs[f"pinging.{p}_rtt_ms"] = graph(f"Pinging {p} RTT", "milliseconds", rtt)
        if extended:
            graphs[f"pinging.{p}_loss"] = graph(f"Pinging {p} loss", "percentage", [("percentage", "Loss")])
            graphs[f"pinging.{p}_errors"] = graph(
                f"Pinging {p} errors", "integer",
                [(r, r.replace("_", " ").capitalize(), True) for r in ERROR_REASONS])
    return graphs


def graph_definition(prefixes: list[str], percentiles: list[float], extended: bool = False) -> bytes:
    return render_graphdef(graph_defs(prefixes, percentiles, extended))
