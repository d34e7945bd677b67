"""asg-unhealthy: mark an Auto Scaling instance Unhealthy when its CloudWatch alarm fires.

The command line only: parse, validate, and hand one function (app.run) to the suite's entry
template (_entry.run: exit codes, closed pipes, signals, write errors). The work lives in
messages.py (input shapes), decide.py (the decision) and app.py (AWS); boto3 is imported there,
only when a message needs an AWS call."""
from __future__ import annotations

import sys

from asg_unhealthy import __version__, _entry

PROG = "asg-unhealthy"
POLICY = _entry.SUITE


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, policy=POLICY, go_flags=False,
        description="Read CloudWatch alarm messages (the alarm JSON, an SNS notification, a Lambda "
                    "event from SNS, an EventBridge Alarm State Change; one JSON document or NDJSON) and "
                    "mark the alarm's EC2 instance Unhealthy in its Auto Scaling group when the alarm is "
                    "in ALARM. One JSON result line per alarm on stdout.",
        epilog="exit status: 0 every message acted on or skipped, 1 an AWS error or unreadable FILE, "
               "2 usage, 65 a malformed message (the others are still processed)")
    ap.add_argument("files", nargs="*", metavar="FILE",
                    help="input files, read in order (none or -: standard input)")
    ap.add_argument("-n", "--dry-run", action="store_true",
                    help="look the instances up, say what would be done, change nothing")
    ap.add_argument("--no-grace", action="store_true",
                    help="ShouldRespectGracePeriod=false: mark Unhealthy even during the group's "
                         "health check grace period")
    ap.add_argument("--expect-group", metavar="NAME",
                    help="act only on instances of this Auto Scaling group (skip the others)")
    ap.add_argument("--region", help="region when an alarm's ARN names none (default: AWS_REGION, "
                                     "AWS_DEFAULT_REGION or the profile's)")
    ap.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or default)")
    ap.add_argument("--endpoint-url", help="Auto Scaling endpoint (default: AWS_ENDPOINT_URL or AWS's)")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return ap


def main(argv: list[str] | None = None, *, stdin=None, stdout=None, stderr=None) -> int:
    """The console script (argv None: sys.argv) and the tests' in-process entry (byte streams)."""
    def body() -> int:
        args = build_parser().parse_args(argv)
        from asg_unhealthy import app
        return app.run(args, stdin=stdin or sys.stdin.buffer, stdout=stdout or sys.stdout.buffer,
                       stderr=stderr or sys.stderr.buffer)

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)
