"""The JSON report: upstream's fields in upstream's order, then this tool's additions."""
from __future__ import annotations

import heapq

from . import __version__
from .gofmt import rfc3339nano
from .stats import qps_summary, response

STATUS_KEYS = ("Questions", "Com_select", "Com_insert", "Com_update", "Com_delete", "Com_commit",
               "Innodb_rows_read", "Innodb_rows_inserted", "Innodb_rows_updated", "Innodb_rows_deleted",
               "Bytes_sent", "Bytes_received")


def status_delta(before: dict, after: dict) -> dict:
    out = {}
    for k in STATUS_KEYS:
        if k in before and k in after:
            out[k] = after[k] - before[k]
    if "Threads_running" in after:
        out["Threads_running"] = after["Threads_running"]
    return out


def build(cfg: dict, run, hinterval_ns: int, extras: dict) -> dict:
    """cfg: the upstream configuration fields (DSN ... GOMAXPROCS); run: runner.RunResult."""
    agents = run.agents
    durs = [d for a in agents for d in a.durs]
    ends = list(heapq.merge(*[a.ends for a in agents]))
    count = len(durs)
    elapsed_ns = max(run.finish_ns - run.start_ns, 0)
    max_qps, min_qps, med_qps = qps_summary(ends, run.start_ns, run.finish_ns)
    rep = dict(cfg)
    rep["StartedAt"] = rfc3339nano(run.start_wall_ns)
    rep["FinishedAt"] = rfc3339nano(run.start_wall_ns + elapsed_ns)
    rep["ElapsedTime"] = elapsed_ns // 1_000_000_000
    # keep upstream's key order: DSN, StartedAt, FinishedAt, ElapsedTime, then the configuration
    ordered = {"DSN": rep.pop("DSN"), "StartedAt": rep.pop("StartedAt"), "FinishedAt": rep.pop("FinishedAt"),
               "ElapsedTime": rep.pop("ElapsedTime")}
    ordered.update(rep)
    ordered["QueryCount"] = count
    ordered["AvgQPS"] = count / (elapsed_ns / 1e9) if elapsed_ns else 0.0
    ordered["MaxQPS"] = max_qps
    ordered["MinQPS"] = min_qps
    ordered["MedianQPS"] = med_qps
    ordered["ExpectedQPS"] = extras.pop("ExpectedQPS")
    ordered["Response"] = response(durs, hinterval_ns)
    # -- additions --------------------------------------------------------------------------------
    ordered.update(additions(run, hinterval_ns))
    ordered.update(extras)
    ordered["Version"] = __version__
    return ordered


def additions(run, hinterval_ns: int = 0, by_statement: bool = True, nbins: int = 10) -> dict:
    """The figures qlap and qrn add after upstream's fields: ResponseFromIntendedStart (rate-limited
    runs), ResponseByStatement (qlap: when more than one statement type ran), ErrorQueryCount,
    Errors (count per MySQL error code), Interrupted."""
    agents = run.agents
    out: dict = {}
    fi = [d for a in agents for d in a.from_intended]
    if fi:
        out["ResponseFromIntendedStart"] = response(fi, hinterval_ns, nbins)
    if by_statement:
        by_type: dict = {}
        from .runner import type_name
        for a in agents:
            for t, d in zip(a.types, a.durs, strict=True):
                by_type.setdefault(type_name(t), []).append(d)
        if len(by_type) > 1:
            out["ResponseByStatement"] = {k: response(v, hinterval_ns) for k, v in sorted(by_type.items())}
    errors: dict = {}
    for a in agents:
        for k, v in a.errors.items():
            errors[k] = errors.get(k, 0) + v
    out["ErrorQueryCount"] = sum(errors.values())
    out["Errors"] = dict(sorted(errors.items())) if errors else None
    out["Interrupted"] = bool(run.interrupted)
    return out


def server_status(conn) -> dict:
    """The STATUS_KEYS counters and Threads_running of `SHOW GLOBAL STATUS`, as integers."""
    out = {}
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS")
        for k, v in cur.fetchall():
            k = k.decode() if isinstance(k, bytes) else k
            if k in STATUS_KEYS or k == "Threads_running":
                try:
                    out[k] = int(v)
                except (TypeError, ValueError):
                    pass
    return out
