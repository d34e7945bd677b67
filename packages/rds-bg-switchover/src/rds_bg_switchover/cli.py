"""rds-bg-switchover: switch an RDS Blue/Green deployment over, safely.

The command line only: parse, validate, and hand one function (app.run) to the suite's entry
template (_entry.run: exit codes, closed pipes, signals, write errors). The work lives in
deployment.py (pure decisions) and app.py (AWS); boto3 is imported there, after parsing."""
from __future__ import annotations

import argparse
import math
import sys

from rds_bg_switchover import __version__, _entry

PROG = "rds-bg-switchover"
POLICY = _entry.SUITE


def _seconds(lo: float, hi: float, integer: bool = False):
    def conv(v: str):
        try:
            x = int(v) if integer else float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if integer else 'a number'}: {v!r}") from None
        if math.isnan(x) or not lo <= x <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo:g} to {hi:g}: {v!r}")
        return x
    return conv


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, policy=POLICY, go_flags=False,
        description="Switch an RDS Blue/Green deployment over: describe it, refuse unless it and every "
                    "switchover member are AVAILABLE (and, with --check-replica-lag, the green "
                    "instances have caught up), then call SwitchoverBlueGreenDeployment and, with "
                    "--wait, follow it. One JSON line per step on stdout.",
        epilog="exit status: 0 done (or dry-run passed, or --list), 1 AWS error, 2 usage, 3 refused, "
               "4 no such deployment, 5 SWITCHOVER_FAILED or INVALID_CONFIGURATION, 6 deadline passed")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", metavar="BGD_ID", help="the deployment identifier (bgd-...)")
    which.add_argument("--name", help="the deployment name")
    which.add_argument("--list", action="store_true", help="print every deployment, one JSON line each")
    ap.add_argument("--timeout", type=_seconds(30, 3600, True), default=300, metavar="SECONDS",
                    help="SwitchoverTimeout: AWS rolls back when the switchover takes longer "
                         "(default 300, at least 30)")
    ap.add_argument("--wait", action="store_true", help="poll until the switchover ends")
    ap.add_argument("--poll", type=_seconds(0.05, 3600), default=10.0, metavar="SECONDS",
                    help="seconds between polls with --wait (default 10)")
    ap.add_argument("--deadline", type=_seconds(0, 86400), metavar="SECONDS",
                    help="give up waiting after this long (default --timeout + 300)")
    ap.add_argument("-n", "--dry-run", action="store_true", help="describe and check, switch nothing")
    ap.add_argument("--check-replica-lag", type=_seconds(0, 86400), metavar="SECONDS",
                    help="refuse unless every green instance's latest ReplicaLag (CloudWatch, last "
                         "10 minutes) is at most SECONDS")
    ap.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)")
    ap.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or default)")
    ap.add_argument("--endpoint-url", help="RDS and CloudWatch endpoint (default: AWS_ENDPOINT_URL or AWS's)")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return ap


def main(argv: list[str] | None = None, *, stdout=None, stderr=None) -> int:
    """The console script (argv None: sys.argv) and the tests' in-process entry (byte streams)."""
    def body() -> int:
        ap = build_parser()
        args = ap.parse_args(argv)
        if args.list and (args.dry_run or args.wait or args.check_replica_lag is not None):
            ap.error("--list goes alone")
        from rds_bg_switchover import app
        return app.run(args, stdout=stdout or sys.stdout.buffer, stderr=stderr or sys.stderr.buffer)

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)
