"""One run of mackerel-plugin-log-incr-rate: count the new lines of both logs, publish the rates."""
from __future__ import annotations

import os
import tempfile

from mackerel_logfollow.driver import Log, drive
from mackerel_plugin_helper.graphs import graph
from mackerel_plugin_helper.metrics import Metrics
from mackerel_plugin_helper.runner import say
from mackerel_plugin_helper.state import state_key

PROG = "mackerel-plugin-log-incr-rate"


def graphs(args) -> dict:
    P = args.key_prefix
    return {
        f"log-incr-rate.{P}_count": graph(f"log-incr-rate {P} lines per second", "float",
                                          [("log", "log"), ("base", "base")]),
        f"log-incr-rate.{P}_rate": graph(f"log-incr-rate {P} ratio", "float", [("log", "log / base")]),
    }


def count_lines(chunk: bytes, pat) -> int:
    if pat is None:
        return chunk.count(b"\n")
    return len(pat.findall(chunk))


def collect(args, out) -> int:
    uid = os.getuid()
    key = state_key(os.path.realpath(args.log_file), os.path.realpath(args.base_log_file))
    safe = args.key_prefix.replace("/", "_")
    logs = [Log(path, f"{uid}-incr-rate-{role}-{safe}-{key}-{uid}.json",
                legacy=[os.path.join(tempfile.gettempdir(), f"incr-rate-{role}-{uid}")])
            for role, path in (("log", args.log_file), ("base", args.base_log_file))]

    def read(i, fol):
        return sum(count_lines(chunk, args.patterns[i]) for chunk in fol.chunks())

    def report(done):
        for log, fol, n in done:
            if args.verbose:
                say(f"{PROG}: {log.path}: {n} lines in {fol.duration:.3f} s")
            if fol.stats.lines_overlong:
                say(f"{PROG}: {fol.stats.lines_overlong} over-long lines skipped; first: "
                    f"{fol.stats.first_overlong}")
        (_, lf, ln), (_, bf, bn) = done
        m = Metrics()
        P = args.key_prefix
        if lf.duration > 0:
            m.add(f"log-incr-rate.{P}_count.log", ln / lf.duration)
        if bf.duration > 0:
            m.add(f"log-incr-rate.{P}_count.base", bn / bf.duration)
        if lf.duration > 0 and bf.duration > 0 and bn > 0:
            m.add(f"log-incr-rate.{P}_rate.log", (ln / lf.duration) / (bn / bf.duration))
        return m, 0

    return drive(PROG, out, logs, read, report, args.follow, events=args.verbose)
