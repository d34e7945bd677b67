"""Shared runner of the benchmarks in scripts/bench/.

`compare(cases, runs=5)` runs each case's `ours` and `ref` commands alternately (ours, ref, ours,
ref, ...) at least `runs` times each, measures every run (CPU = user + sys of the process tree and peak
RSS of the largest process, from GNU time; wall time), and prints medians and the ratio
ours/reference. Commands are argv lists, or strings run by `sh -c` (for pipelines); stdin may be a
file path; stdout goes to /dev/null unless `stdout` is given.

Each benchmark prints a Markdown table row per case that can be pasted into the package README's
PERFORMANCE section (`--markdown`), and a JSON line per case (`--json`).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class Case:
    name: str                 # workload description
    ours: list[str] | str
    ref: list[str] | str | None
    ref_name: str = ""
    stdin: str | None = None  # path of a file fed on stdin
    env: dict = field(default_factory=dict)
    check: bool = False       # compare the two outputs (needs stdout capture)


@dataclass
class Sample:
    cpu: float
    wall: float
    rss_mb: float
    rc: int


GNU_TIME = "/usr/bin/time"


def run_once(cmd, stdin=None, env=None) -> Sample:
    """Run one command; CPU and peak RSS come from GNU time when it is there.

    Why GNU time: a child forked from this (possibly large) Python process starts with the parent's
    resident pages, so its ru_maxrss would include them; GNU time is a small C process, and the
    peak it reports for its own child is the tool's own.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    args = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    use_time = os.access(GNU_TIME, os.X_OK)
    fd, out_path = tempfile.mkstemp(prefix="bench-time-")
    os.close(fd)
    if use_time:
        args = [GNU_TIME, "-q", "-f", "%U %S %M", "-o", out_path, *args]
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(args, stdin=fin, stdout=subprocess.DEVNULL, env=full_env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        cpu, rss_mb = ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0
        if use_time:
            with open(out_path) as f:
                fields = f.read().split()
            if len(fields) >= 3:
                cpu, rss_mb = float(fields[-3]) + float(fields[-2]), int(fields[-1]) / 1024.0
    finally:
        if stdin:
            fin.close()
        os.unlink(out_path)
    return Sample(cpu, wall, rss_mb, rc)


def median(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def compare(cases: list[Case], runs: int = 5, markdown: bool = False, as_json: bool = False) -> list[dict]:
    results = []
    for c in cases:
        ours: list[Sample] = []
        ref: list[Sample] = []
        for _ in range(runs):
            ours.append(run_once(c.ours, c.stdin, c.env))
            if c.ref is not None:
                ref.append(run_once(c.ref, c.stdin, c.env))
        bad = [s.rc for s in ours + ref if s.rc != 0]
        r = {
            "workload": c.name,
            "reference": c.ref_name or (c.ref if isinstance(c.ref, str) else " ".join(c.ref or [])),
            "ours_cpu_s": round(median(ours, "cpu"), 3),
            "ours_wall_s": round(median(ours, "wall"), 3),
            "ours_rss_mb": round(max(s.rss_mb for s in ours), 1),
            "date": datetime.date.today().isoformat(),
            "runs": runs,
        }
        if ref:
            r.update({
                "ref_cpu_s": round(median(ref, "cpu"), 3),
                "ref_wall_s": round(median(ref, "wall"), 3),
                "ref_rss_mb": round(max(s.rss_mb for s in ref), 1),
            })
            r["cpu_ratio"] = round(r["ours_cpu_s"] / r["ref_cpu_s"], 3) if r["ref_cpu_s"] else None
            r["wall_ratio"] = round(r["ours_wall_s"] / r["ref_wall_s"], 3) if r["ref_wall_s"] else None
        if bad:
            r["nonzero_exit"] = bad
        results.append(r)
        report(r, markdown, as_json)
    return results


def report(r: dict, markdown: bool = False, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(r), flush=True)
        return
    if markdown:
        if "ref_cpu_s" in r:
            print(f"| {r['workload']} | {r['reference']} | {r['ours_cpu_s']} s | {r['ref_cpu_s']} s | "
                  f"**{r['cpu_ratio']}** | {r['ours_wall_s']} s / {r['ref_wall_s']} s | "
                  f"{r['ours_rss_mb']} MB / {r['ref_rss_mb']} MB | {r['date']} |", flush=True)
        else:
            print(f"| {r['workload']} | - | {r['ours_cpu_s']} s | - | - | {r['ours_wall_s']} s | "
                  f"{r['ours_rss_mb']} MB | {r['date']} |", flush=True)
        return
    print(f"{r['workload']}", flush=True)
    print(f"  ours: cpu {r['ours_cpu_s']} s  wall {r['ours_wall_s']} s  peak rss {r['ours_rss_mb']} MB")
    if "ref_cpu_s" in r:
        print(f"  ref ({r['reference']}): cpu {r['ref_cpu_s']} s  wall {r['ref_wall_s']} s  "
              f"peak rss {r['ref_rss_mb']} MB")
        print(f"  ratio ours/ref: cpu {r['cpu_ratio']}  wall {r['wall_ratio']}")
    if r.get("nonzero_exit"):
        print(f"  WARNING: non-zero exit codes {r['nonzero_exit']}")
    sys.stdout.flush()


MARKDOWN_HEADER = ("| workload | reference | ours CPU | ref CPU | CPU ratio | wall ours / ref | "
                   "peak RSS ours / ref | date |\n|---|---|---|---|---|---|---|---|")


def arg_parser(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--runs", type=int, default=5, help="runs of each command (at least 5 for a recorded figure)")
    ap.add_argument("--markdown", action="store_true", help="print README table rows")
    ap.add_argument("--json", action="store_true", help="print one JSON object per case")
    ap.add_argument("--data-dir", default=os.environ.get("BENCH_DATA", "bench-data"),
                    help="where generated inputs are cached (default: ./bench-data)")
    ap.add_argument("--small", action="store_true", help="a small workload, to check the script runs")
    return ap


def header(markdown: bool) -> None:
    if markdown:
        print(MARKDOWN_HEADER)
