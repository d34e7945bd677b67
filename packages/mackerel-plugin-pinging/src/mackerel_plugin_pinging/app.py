"""One run of mackerel-plugin-pinging: ping every host in its own thread, publish the metrics."""
from __future__ import annotations

import os
import threading

from mackerel_plugin_helper.metrics import Metrics
from mackerel_plugin_helper.runner import publish, say

from .output import add_metrics, graph_defs
from .stats import Result

PROG = "mackerel-plugin-pinging"

# exit statuses: a host that could not be resolved gives 1 (as upstream, its lines still say
# success 0 / error = count); no ICMP socket could be opened 3; anything unexpected 4.
# With several hosts, the highest applies.
EXIT_UNRESOLVED, EXIT_NO_SOCKET, EXIT_INTERNAL = 1, 3, 4


def graphs(args) -> dict:
    return graph_defs(args.prefixes, args.percentiles, args.extended)


def _err(msg: str) -> None:
    say(f"{PROG}: {msg}")


def collect(args, out) -> int:
    from . import pinger

    m = Metrics()
    log = _err if args.verbose else None
    n = len(args.host)
    results: list[tuple[Result | None, str | None, str | None]] = [(None, None, None)] * n
    codes = [0] * n  # per host: 0, or the exit status its failure asks for (see README)
    ident_base = os.getpid() & 0xffff

    def work(i: int, host: str) -> None:
        try:
            _work(i, host)
        except Exception as e:  # noqa: BLE001 - never a silent thread traceback and exit 0
            results[i] = (None, None, f"{type(e).__name__}: {e}")
            codes[i] = EXIT_INTERNAL

    def _work(i: int, host: str) -> None:
        try:
            address, family = pinger.resolve(host, args.family)
        except pinger.ResolveError as e:
            # upstream: 100 % errors and exit 1
            results[i] = (Result(requested=args.count), None, str(e))
            codes[i] = EXIT_UNRESOLVED
            return
        try:
            sock = pinger.open_socket(family, args.source, args.socket)
        except pinger.SocketOpenError as e:
            results[i] = (None, None, str(e))
            codes[i] = EXIT_NO_SOCKET
            return
        try:
            if log:
                kind = "a raw" if sock.is_privileged else "an unprivileged"
                log(f"{host}: pinging {address} over {kind} ICMPv{family} socket")
            res, first = pinger.ping_host(
                sock, address, args.count, args.interval / 1000.0, args.timeout / 1000.0,
                ident=(ident_base + i) & 0xffff, preflight=args.preflight, log=log)
            results[i] = (res, first, None)
        finally:
            sock.close()

    threads = [threading.Thread(target=work, args=(i, h), daemon=True)
               for i, h in enumerate(args.host)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)

    rc = 0
    fatal_seen: set[str] = set()
    for host, prefix, (res, first, fatal), code in zip(args.host, args.prefixes, results, codes, strict=True):
        if fatal:
            rc = max(rc, code or EXIT_INTERNAL)
            if fatal not in fatal_seen:  # one clear message, not one per host
                _err(fatal if res is not None else f"{host}: {fatal}")
                fatal_seen.add(fatal)
        if res is None:
            continue
        if res.error and not fatal:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(res.errors.items()))
            _err(f"{host}: {res.error} of {res.requested} pings failed ({reasons}); first: {first}")
        add_metrics(m, prefix, res, args.percentiles, args.extended)
    publish(PROG, out, m)
    return rc


