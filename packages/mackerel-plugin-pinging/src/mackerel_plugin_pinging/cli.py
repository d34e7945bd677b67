"""mackerel-plugin-pinging: command line and wiring (see README.md for the design)."""
from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time

from . import __version__

PROG = "mackerel-plugin-pinging"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


# One day: far beyond any sensible plugin run, and well inside what a socket timeout and
# time.sleep() accept (1e308 ms used to overflow them inside a host's thread).
MAX_MS = 86_400_000.0



# exit statuses: a host that could not be resolved gives 1 (as upstream, its lines still say
# success 0 / error = count); no ICMP socket could be opened 3; anything unexpected 4.
# With several hosts, the highest applies.
EXIT_UNRESOLVED, EXIT_NO_SOCKET, EXIT_INTERNAL = 1, 3, 4

def _non_negative(v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {v!r}") from None
    if not x >= 0 or x != x or x == float("inf"):
        raise argparse.ArgumentTypeError(f"not a non-negative number: {v!r}")
    if x > MAX_MS:
        raise argparse.ArgumentTypeError(f"more than one day ({MAX_MS:.0f} ms): {v!r}")
    return x


def _positive(v: str) -> float:
    x = _non_negative(v)
    if x == 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {v!r}")
    return x


def _count(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {v!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {v!r}")
    return n


def _percentiles(v: str) -> list[float]:
    out = []
    for part in v.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            p = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {part!r}") from None
        if not 0 < p <= 100:
            raise argparse.ArgumentTypeError(f"percentile out of (0, 100]: {part!r}")
        if p not in out:
            out.append(p)
    if not out:
        raise argparse.ArgumentTypeError(f"no percentile in {v!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog=PROG, allow_abbrev=False,
        description="Ping hosts with ICMP echo and print RTT and loss metrics for mackerel-agent.",
        epilog="Single-dash spellings (-host, -count, ...) are accepted too. "
               "Exit: 0 ok (lost pings included), 1 a host could not be resolved or no ICMP "
               "socket could be opened, 2 usage, 130 interrupted.")
    ap.add_argument("--host", "-host", action="append", required=True, metavar="HOST",
                    help="name or address to ping; repeat for several hosts, pinged concurrently")
    ap.add_argument("--key-prefix", "-key-prefix", action="append", required=True, metavar="PREFIX",
                    help="inserted into the metric names; one per --host, or one for all "
                         "(then _<host> is appended for each)")
    ap.add_argument("--count", "-count", type=_count, default=10, help="counted pings (default 10)")
    ap.add_argument("--interval", "-interval", type=_non_negative, default=10.0, metavar="MS",
                    help="ms slept before every counted ping (default 10)")
    ap.add_argument("--timeout", "-timeout", type=_positive, default=1000.0, metavar="MS",
                    help="ms to wait for each reply (default 1000)")
    fam = ap.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4,
                     help="resolve and ping over IPv4")
    fam.add_argument("-6", dest="family", action="store_const", const=6,
                     help="resolve and ping over IPv6 (default: IPv6 when HOST contains ':')")
    ap.add_argument("--source", "-source", metavar="ADDR", help="send from this local address")
    ap.add_argument("--percentiles", type=_percentiles, default=[90.0], metavar="LIST",
                    help="comma-separated percentiles to print (default 90)")
    ap.add_argument("--extended", action="store_true",
                    help="also print stddev, jitter, loss percentage and failures by reason")
    ap.add_argument("--socket", choices=["auto", "unprivileged", "privileged"], default="auto",
                    help="ICMP socket kind: unprivileged first with raw as fallback (auto, the "
                         "default), or only one kind")
    ap.add_argument("--no-preflight", dest="preflight", action="store_false",
                    help="skip the uncounted warm-up ping")
    ap.add_argument("--verbose", action="store_true", help="log every ping on stderr")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def key_prefixes(hosts: list[str], prefixes: list[str]) -> list[str] | None:
    if len(prefixes) == len(hosts):
        return list(prefixes)
    if len(prefixes) == 1:
        return [f"{prefixes[0]}_{re.sub(r'[^-a-zA-Z0-9_]', '_', h)}" for h in hosts]
    return None


def _err(msg: str) -> None:
    sys.stderr.write(f"{PROG}: {msg}\n")
    sys.stderr.flush()


def run(args, out) -> int:
    from .output import graph_definition, metric_lines

    prefixes = key_prefixes(args.host, args.key_prefix)
    if os.environ.get("MACKEREL_AGENT_PLUGIN_META"):
        out.write(graph_definition(prefixes, args.percentiles, args.extended))
        return 0

    from . import pinger
    from .stats import Result

    epoch = int(time.time())
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
    lines: list[str] = []
    for host, prefix, (res, first, fatal), code in zip(args.host, prefixes, results, codes, strict=True):
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
        lines.extend(metric_lines(prefix, res, epoch, args.percentiles, args.extended))
    out.write("".join(lines).encode())
    return rc


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the arguments are parsed, before _main's own handler
        return 130


def _main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    prefixes = key_prefixes(args.host, args.key_prefix)
    if prefixes is None:
        ap.error(f"give one --key-prefix, or one per --host ({len(args.host)}), "
                 f"not {len(args.key_prefix)}")
    seen: dict[str, str] = {}
    for host, prefix in zip(args.host, prefixes, strict=True):
        if prefix in seen:  # two metric sets under the same names would be mixed up
            ap.error(f"--host {seen[prefix]} and --host {host} would both be reported as "
                     f"pinging.{prefix}_*: give each host its own --key-prefix")
        seen[prefix] = host
    out = sys.stdout.buffer
    try:
        rc = run(args, out)
        out.flush()
        return rc
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
