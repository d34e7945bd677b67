"""Graph definitions printed when MACKEREL_AGENT_PLUGIN_META is set (mackerel-agent asks for
them once at start-up): `# mackerel-agent-plugin` then one JSON object."""
from __future__ import annotations

import json


def _graph(label: str, unit: str, metrics: list[tuple[str, str]]) -> dict:
    return {"label": label, "unit": unit,
            "metrics": [{"name": n, "label": lab, "stacked": False} for n, lab in metrics]}


def graph_definition(key: str, extended: bool = False, match: bool = False) -> bytes:
    g = {
        f"process-status.fds_{key}": _graph(f"Process {key} open files", "integer",
                                            [("count", "Count"), ("max", "Max")]),
        f"process-status.fds_usage_{key}": _graph(f"Process {key} open files usage", "percentage",
                                                  [("percentage", "Usage")]),
        f"process-status.cpu_{key}": _graph(f"Process {key} CPU", "percentage",
                                            [("percentage", "CPU")]),
        f"process-status.mem_{key}": _graph(f"Process {key} memory", "bytes",
                                            [("used", "Used"), ("max", "Max")]),
        f"process-status.mem_usage_{key}": _graph(f"Process {key} memory usage", "percentage",
                                                  [("percentage", "Usage")]),
    }
    if extended:
        g[f"process-status.threads_{key}"] = _graph(f"Process {key} threads", "integer",
                                                    [("count", "Threads")])
        g[f"process-status.ctx_switches_{key}"] = _graph(
            f"Process {key} context switches/s", "float",
            [("voluntary", "Voluntary"), ("nonvoluntary", "Non-voluntary")])
        g[f"process-status.io_{key}"] = _graph(f"Process {key} I/O", "bytes/sec",
                                               [("read_bytes", "Read"), ("write_bytes", "Write")])
    if match:
        g[f"process-status.processes_{key}"] = _graph(f"Process {key} count", "integer",
                                                      [("count", "Processes")])
    return ("# mackerel-agent-plugin\n" + json.dumps({"graphs": g}) + "\n").encode()
