"""mackerel-plugin-linux-process-status: command line (parsing and validation); the run is in
app.py."""
from __future__ import annotations

import argparse
import re
import sys

from mackerel_plugin_helper.metrics import key_prefix
from mackerel_plugin_helper.runner import add_dry_run

from . import __version__, _entry

PROG = "mackerel-plugin-linux-process-status"


def _pid(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {v!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"not a process id: {v!r}")
    return n


def _path(v: str) -> str:
    if not v:
        raise argparse.ArgumentTypeError("empty file name")
    return v


def _regex(v: str) -> re.Pattern:
    try:
        return re.compile(v)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regular expression {v!r}: {e}") from None


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, allow_abbrev=False, policy=_entry.MACKEREL, go_flags=True,
        description="Print open files, CPU and memory of a process as mackerel-agent metrics.",
        epilog="Single-dash spellings (-pid, -key-prefix) are accepted too. Exit: 0 ok, "
               "2 the process (or pidfile) could not be read, 3 usage, 130 interrupted, "
               "143 terminated.")
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("-p", "--pid", type=_pid, metavar="PID", help="process id")
    target.add_argument("--pidfile", type=_path, metavar="FILE",
                        help="read the process id from FILE")
    target.add_argument("--match", type=_regex, metavar="REGEX",
                        help="every process whose command line matches REGEX (re.search), "
                             "this plugin and its parents excepted; summed unless --per-process")
    ap.add_argument("--key-prefix", required=True, type=key_prefix, metavar="KEY",
                    help="inserted into the metric names")
    ap.add_argument("--per-process", action="store_true",
                    help="with --match: one metric set per process, keyed KEY_<pid>")
    ap.add_argument("--per-core", action="store_true",
                    help="CPU as a share of one core (100 %% = one core busy) instead of all CPUs")
    ap.add_argument("--extended", action="store_true",
                    help="also print threads, context switches/s and read/write bytes/s")
    add_dry_run(ap)
    ap.add_argument("--proc-root", default="/proc", metavar="DIR",
                    help="where procfs is mounted (default /proc)")
    ap.add_argument("--cgroup-root", default="/sys/fs/cgroup", metavar="DIR",
                    help="where the cgroup file system is mounted (default /sys/fs/cgroup)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse(argv):
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.per_process and args.match is None:
        ap.error("--per-process needs --match")
    return args


def main(argv=None) -> int:
    from mackerel_plugin_helper import runner

    from . import app

    return runner.run(_entry, PROG, lambda: parse(argv), app.collect, app.graphs)


if __name__ == "__main__":
    sys.exit(main())
