"""mackerel-plugin-pinging: command line (parsing and validation); the run is in app.py."""
from __future__ import annotations

import argparse
import re
import sys

from mackerel_plugin_helper.metrics import key_prefix
from mackerel_plugin_helper.runner import add_dry_run

from . import __version__, _entry

PROG = "mackerel-plugin-pinging"

# One day: far beyond any sensible plugin run, and well inside what a socket timeout and
# time.sleep() accept (1e308 ms used to overflow them inside a host's thread).
MAX_MS = 86_400_000.0


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


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, allow_abbrev=False, policy=_entry.MACKEREL, go_flags=True,
        description="Ping hosts with ICMP echo and print RTT and loss metrics for mackerel-agent.",
        epilog="Single-dash spellings (-host, -count, ...) are accepted too. "
               "Exit: 0 ok (lost pings included), 1 a host could not be resolved, 2 write error, "
               "3 usage error or no ICMP socket could be opened, 4 an unexpected error, "
               "130 interrupted, 143 terminated.")
    ap.add_argument("--host", action="append", required=True, metavar="HOST",
                    help="name or address to ping; repeat for several hosts, pinged concurrently")
    ap.add_argument("--key-prefix", action="append", required=True, type=key_prefix, metavar="PREFIX",
                    help="inserted into the metric names; one per --host, or one for all "
                         "(then _<host> is appended for each)")
    ap.add_argument("--count", type=_count, default=10, help="counted pings (default 10)")
    ap.add_argument("--interval", type=_non_negative, default=10.0, metavar="MS",
                    help="ms slept before every counted ping (default 10)")
    ap.add_argument("--timeout", type=_positive, default=1000.0, metavar="MS",
                    help="ms to wait for each reply (default 1000)")
    fam = ap.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4,
                     help="resolve and ping over IPv4")
    fam.add_argument("-6", dest="family", action="store_const", const=6,
                     help="resolve and ping over IPv6 (default: IPv6 when HOST contains ':')")
    ap.add_argument("--source", metavar="ADDR", help="send from this local address")
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
    add_dry_run(ap)   # accepted as by every plugin; pinging keeps no state
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def key_prefixes(hosts: list[str], prefixes: list[str]) -> list[str] | None:
    if len(prefixes) == len(hosts):
        return list(prefixes)
    if len(prefixes) == 1:
        return [f"{prefixes[0]}_{re.sub(r'[^-a-zA-Z0-9_]', '_', h)}" for h in hosts]
    return None


def parse(argv):
    ap = build_parser()
    args = ap.parse_args(argv)
    args.prefixes = key_prefixes(args.host, args.key_prefix)
    if args.prefixes is None:
        ap.error(f"give one --key-prefix, or one per --host ({len(args.host)}), "
                 f"not {len(args.key_prefix)}")
    seen: dict[str, str] = {}
    for host, prefix in zip(args.host, args.prefixes, strict=True):
        if prefix in seen:  # two metric sets under the same names would be mixed up
            ap.error(f"--host {seen[prefix]} and --host {host} would both be reported as "
                     f"pinging.{prefix}_*: give each host its own --key-prefix")
        seen[prefix] = host
    return args


def main(argv=None) -> int:
    from mackerel_plugin_helper import runner

    from . import app

    return runner.run(_entry, PROG, lambda: parse(argv), app.collect, app.graphs)


if __name__ == "__main__":
    sys.exit(main())
