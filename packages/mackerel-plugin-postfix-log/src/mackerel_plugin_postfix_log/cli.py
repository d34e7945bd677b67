"""mackerel-plugin-postfix-log: postfix delivery delays and result counts for mackerel-agent."""
from __future__ import annotations

import sys

from mackerel_logfollow.driver import add_options, options
from mackerel_plugin_helper.runner import add_dry_run

from mackerel_plugin_postfix_log import __version__, _entry

PROG = "mackerel-plugin-postfix-log"


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, policy=_entry.MACKEREL, go_flags=True,
                               description="Print postfix delivery delays (by stage) and DSN class counts "
                                           "of the mail log read since the last run, as mackerel metrics.")
    ap.add_argument("--logfile", default="/var/log/maillog", metavar="PATH",
                    help="postfix log (default /var/log/maillog)")
    ap.add_argument("--posfile-prefix", default="maillog", metavar="STR",
                    help="name of the position file (default maillog)")
    ap.add_argument("--agents", default="smtp", metavar="LIST",
                    help="delivery agents to count, comma separated, of smtp,lmtp,local,virtual,pipe "
                         "(default smtp, as upstream)")
    ap.add_argument("--status-counts", action="store_true",
                    help="also print counts by status= (sent, deferred, bounced, expired)")
    ap.add_argument("--percentile-method", choices=["rank", "linear"], default="rank",
                    help="rank: nearest rank (default, as upstream up to 2025); linear: interpolation")
    add_options(ap, max_read_size="1GB")
    add_dry_run(ap)
    ap.add_argument("-V", "--verbose", action="store_true", help="notes on stderr (rotation, counts)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse(argv):

    from mackerel_plugin_postfix_log.parse import AGENTS

    ap = build_parser()
    args = ap.parse_args(argv)
    args.follow = options(ap, args)
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    bad = [a for a in args.agents if a not in AGENTS]
    if bad or not args.agents:
        ap.error(f"--agents: unknown agent {', '.join(bad) or '(none)'}; choose from {','.join(AGENTS)}")
    return args


def main(argv=None) -> int:
    from mackerel_plugin_helper import runner

    from mackerel_plugin_postfix_log import app

    return runner.run(_entry, PROG, lambda: parse(argv), app.collect, app.graphs)


if __name__ == "__main__":
    sys.exit(main())
