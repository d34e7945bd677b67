"""ec2-recovery-check command line: parse and validate, then app.run under the suite's entry
template. No AWS module is imported here."""
from __future__ import annotations

import argparse
import re
import sys

from ec2_recovery_check import __version__, _entry

PROG = "ec2-recovery-check"
POLICY = _entry.SUITE


def _tag(v: str):
    k, eq, val = v.partition("=")
    if not eq or not k:
        raise argparse.ArgumentTypeError(f"not KEY=VALUE: {v!r}")
    return k, val


def _iid(v: str) -> str:
    if not re.fullmatch(r"i-[0-9a-f]{8,17}", v):
        raise argparse.ArgumentTypeError(f"not an instance id: {v!r}")
    return v


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, policy=POLICY, description="Tell whether EC2 automatic recovery can work for instances "
        "(and why not), and put the StatusCheckFailed_System recover alarm where it can.")
    ap.add_argument("instance_ids", nargs="*", type=_iid, metavar="INSTANCE_ID",
                    help="instances to check (default: every instance, or those with --tag)")
    ap.add_argument("--tag", type=_tag, action="append", default=[], metavar="KEY=VALUE",
                    help="only instances with this tag (repeatable: all must match)")
    ap.add_argument("--apply", action="store_true", help="put the recover alarm for each recoverable instance "
                    "without one (a fixed name per instance: a rerun updates, never duplicates)")
    ap.add_argument("--dry-run", action="store_true", help="print the alarm --apply would put; change nothing")
    ap.add_argument("--check", action="store_true", help="Nagios codes for mackerel-agent's check monitoring: "
                    "0 all protected, 1 recoverable but unprotected, 2 some cannot recover, 3 API error; "
                    "a status line first")
    ap.add_argument("--offline", action="store_true", help="read captured AWS CLI JSON documents on stdin "
                    "(describe-instances, describe-images, describe-launch-template-versions, "
                    "describe-instance-types, describe-alarms) instead of calling AWS")
    ap.add_argument("--region", help="AWS region (default: AWS_REGION, the profile's)")
    ap.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")
    ap.add_argument("--endpoint-url", help="endpoint for EC2 and CloudWatch (default: AWS_ENDPOINT_URL)")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse_args(argv: list[str] | None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.offline and args.apply and not args.dry_run:
        ap.error("--apply needs AWS; with --offline use --dry-run to see the alarms")
    return args


def main(argv: list[str] | None = None, *, stdin=None, stdout=None, stderr=None) -> int:
    """The console script (argv None: sys.argv) and the tests' in-process entry (byte streams)."""
    def body() -> int:
        args = parse_args(argv)
        from ec2_recovery_check import app
        return app.run(args, stdin=stdin, stdout=stdout, stderr=stderr)

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)


if __name__ == "__main__":
    sys.exit(main())
