"""ddb-export command line: parse and validate, then app.run under the suite's entry template
(exit codes, closed pipes, SIGINT/SIGTERM, write errors). No AWS module is imported here."""
from __future__ import annotations

import argparse
import sys

from ddb_export import __version__, _entry

PROG = "ddb-export"
POLICY = _entry.SUITE


def _size(v: str) -> int:
    from .plan import parse_size
    try:
        return parse_size(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(kind):
    def conv(v: str):
        try:
            x = kind(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {v!r}") from None
        if not x > 0 or x == float("inf"):
            raise argparse.ArgumentTypeError(f"must be more than 0: {v!r}")
        return x
    return conv


def _fraction(v: str) -> float:
    x = _positive(float)(v)
    if x > 1:
        raise argparse.ArgumentTypeError(f"a fraction of the provisioned reads, more than 0 and at most 1 "
                                         f"(0.5 = half): {v!r}")
    return x


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, policy=POLICY, go_flags=False,
        description="Export a whole DynamoDB table, one item per line, within a read-capacity budget; "
        "resumable with --checkpoint.")
    ap.add_argument("table", nargs="?", metavar="TABLE", help="the table (name or ARN)")
    ap.add_argument("--segments", type=_positive(int), default=4, metavar="N",
                    help="parallel scan segments (default 4)")
    b = ap.add_mutually_exclusive_group()
    b.add_argument("--read-percent", type=_fraction, default=0.5, metavar="P",
                   help="budget: this fraction of the table's provisioned reads (default 0.5; 1 = all)")
    b.add_argument("--max-rcu", type=_positive(float), metavar="R",
                   help="budget: R read units per second (required for an on-demand table)")
    b.add_argument("--unlimited", action="store_true",
                   help="no budget (a table nobody else reads; benchmarks)")
    ap.add_argument("--consistent", action="store_true", help="strongly consistent reads (twice the units)")
    ap.add_argument("--format", choices=["ddb", "plain"], default="ddb",
                    help="ddb: the Export to S3 line {\"Item\": {...}} in DynamoDB JSON (default); "
                    "plain: ordinary JSON")
    o = ap.add_mutually_exclusive_group()
    o.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: standard output)")
    o.add_argument("--out-dir", metavar="DIR", help="one file per segment in DIR (segment-NNNNN.jsonl)")
    ap.add_argument("--checkpoint", metavar="DIR", help="keep a checkpoint in DIR; a rerun with the same "
                    "arguments resumes where the durable output ends (needs -o or --out-dir)")
    ap.add_argument("--plan", action="store_true", help="print the size, the budget and the scan time as "
                    "one JSON object, and exit")
    ap.add_argument("--items", type=int, metavar="N", help="with --plan: the item count (else describe_table)")
    ap.add_argument("--bytes", type=_size, metavar="SIZE", help="with --plan: the table size, e.g. 20Gi "
                    "(K/M/G decimal, Ki/Mi/Gi binary; else describe_table)")
    ap.add_argument("--rcu", type=_positive(float), metavar="R",
                    help="the table's provisioned reads (else describe_table)")
    ap.add_argument("--region", help="AWS region (default: AWS_REGION, the profile's)")
    ap.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")
    ap.add_argument("--endpoint-url", help="DynamoDB endpoint (default: AWS_ENDPOINT_URL_DYNAMODB, "
                    "AWS_ENDPOINT_URL, the profile's)")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse_args(argv: list[str] | None):
    ap = build_parser()
    args = ap.parse_args(argv)
    offline = args.plan and args.items is not None and args.bytes is not None and (
        args.rcu is not None or args.max_rcu is not None)
    if not args.table and not offline:
        ap.error("TABLE is required (--plan without it needs --items, --bytes and --rcu or --max-rcu)")
    if args.checkpoint and not (args.output or args.out_dir):
        ap.error("--checkpoint needs -o FILE or --out-dir DIR (standard output cannot be rewound)")
    if (args.items is not None or args.bytes is not None) and not args.plan:
        ap.error("--items and --bytes go with --plan")
    return args


def main(argv: list[str] | None = None, *, stdout=None, stderr=None) -> int:
    """The console script (argv None: sys.argv) and the tests' in-process entry (byte streams)."""
    def body() -> int:
        args = parse_args(argv)
        from ddb_export import app
        return app.run(args, stdout=stdout, stderr=stderr)

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)


if __name__ == "__main__":
    sys.exit(main())
