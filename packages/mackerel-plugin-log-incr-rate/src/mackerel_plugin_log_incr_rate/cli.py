"""mackerel-plugin-log-incr-rate: growth of one log relative to a base log, for mackerel-agent."""
from __future__ import annotations

import sys

from mackerel_logfollow.driver import add_options, options
from mackerel_plugin_helper.metrics import key_prefix
from mackerel_plugin_helper.runner import add_dry_run

from mackerel_plugin_log_incr_rate import __version__, _entry

PROG = "mackerel-plugin-log-incr-rate"


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, policy=_entry.MACKEREL, go_flags=True,
                               description="Print the lines per second added to a log and to a base log "
                                           "since the last run, and their ratio, as mackerel metrics.")
    ap.add_argument("--log-file", required=True, metavar="PATH", help="the log to measure")
    ap.add_argument("--base-log-file", required=True, metavar="PATH", help="the base log")
    ap.add_argument("--key-prefix", required=True, type=key_prefix, metavar="STR",
                    help="metric key prefix (letters, digits, -, _, .)")
    ap.add_argument("--pattern", metavar="REGEX", help="count only lines of --log-file matching REGEX")
    ap.add_argument("--base-pattern", metavar="REGEX", help="count only lines of --base-log-file matching REGEX")
    add_options(ap, max_read_size="500MB")
    add_dry_run(ap)
    ap.add_argument("--verbose", action="store_true", help="notes on stderr (rotation, counts)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def line_regex(pattern: str):
    """The regex that finds the lines matching the user's pattern, one match per line (the whole
    line, so that findall counts lines in C). The user's pattern is compiled alone first, so that
    an error names the position in what the user typed; its leading global flags (`(?i)`) are
    kept in front of the wrapper (Python refuses them elsewhere)."""
    import re

    src = pattern.encode()
    user = re.compile(src)                      # re.error: positions in the user's pattern
    lead = re.match(rb"(?:\(\?[aiLmsux]+\))*", src).group(0)
    body = src[len(lead):] + (b"\n" if user.flags & re.VERBOSE else b"")   # ends a # comment
    return re.compile(lead + rb"^[^\n]*?(?:" + body + rb")[^\n]*\n", re.MULTILINE)


def parse(argv):
    import re

    ap = build_parser()
    args = ap.parse_args(argv)
    args.follow = options(ap, args)
    args.patterns = []
    for opt, p in (("--pattern", args.pattern), ("--base-pattern", args.base_pattern)):
        try:
            args.patterns.append(line_regex(p) if p else None)
        except re.error as e:
            ap.error(f"{opt}: {e}")
    return args


def main(argv=None) -> int:
    from mackerel_plugin_helper import runner

    from mackerel_plugin_log_incr_rate import app

    return runner.run(_entry, PROG, lambda: parse(argv), app.collect, app.graphs)


if __name__ == "__main__":
    sys.exit(main())
