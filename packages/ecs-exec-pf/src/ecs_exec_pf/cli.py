"""ecs-exec-pf command line: parse and validate (Go-style single-dash spellings such as -cluster
and -local-port derived by the entry template), then app.run under the entry template."""
from __future__ import annotations

import argparse
import sys

from . import __version__, _entry
from .forwards import Forward, SpecError, parse_L

PROG = "ecs-exec-pf"


def _int(v: str) -> int:
    """An integer in ASCII digits (range checks come later, with their own messages)."""
    digits = v[1:] if v.startswith("-") else v
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"not an integer: {v!r}")
    return int(v)


MAX_WATCH_S = 86400.0


def _seconds(v: str) -> float:
    """A period in seconds: > 0 and at most a day (inf overflowed a lock timeout, nan switched the
    watch off, 0 or less described the task in a busy loop)."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {v!r}") from None
    if not 0 < x <= MAX_WATCH_S:  # also false for nan
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_WATCH_S:g}: {v!r}")
    return x


def build_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, go_flags=True, description="Forward local ports into an ECS task "
                               "(or through it to a remote host) with SSM Session Manager port forwarding.")
    ap.add_argument("-c", "--cluster", required=True, help="ECS cluster name or ARN")
    who = ap.add_mutually_exclusive_group(required=True)
    who.add_argument("-t", "--task", help="task id or ARN")
    who.add_argument("--service", help="pick the oldest RUNNING task of this service")
    ap.add_argument("-n", "--container", help="container name (default: the first container)")
    ap.add_argument("-p", "--port", type=_int, metavar="REMOTE_PORT", help="port to reach in the task "
                    "(or on --remote-host)")
    ap.add_argument("-l", "--local-port", type=_int, metavar="LOCAL_PORT",
                    help="local port for -p (default: the same as REMOTE_PORT; 0 = any free port)")
    ap.add_argument("--remote-host", help="forward -p to this host through the task "
                    "(AWS-StartPortForwardingSessionToRemoteHost)")
    ap.add_argument("-L", dest="forwards", action="append", default=[], metavar="[LOCAL:]HOST:REMOTE",
                    help="one more forward (repeatable); HOST 'localhost' means the task itself; an empty "
                    "LOCAL picks a free port")
    ap.add_argument("--public", action="store_true", help="listen on 0.0.0.0 (through a relay) instead of "
                    "localhost only")
    ap.add_argument("--reconnect", action="store_true", help="open a new session when one drops")
    ap.add_argument("--watch-interval", type=_seconds, default=10.0, metavar="SECONDS",
                    help="how often the task is checked; the sessions stop when it stops (default 10)")
    ap.add_argument("--print-target", action="store_true", help="print the SSM target and exit")
    ap.add_argument("--region", help="AWS region (default: from the profile or AWS_REGION)")
    ap.add_argument("--profile", help="AWS profile")
    ap.add_argument("--endpoint-url", help="endpoint for the ECS and SSM APIs (also AWS_ENDPOINT_URL)")
    ap.add_argument("--log-format", choices=["text", "json"], default="text", help="stderr events format")
    ap.add_argument("-d", "--debug", action="store_true", help="also log the plugin's output and commands")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def forwards_from_args(args) -> list[Forward]:
    out: list[Forward] = []
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise SpecError(f"-p out of range: {args.port}")
        local = args.port if args.local_port is None else args.local_port
        if not 0 <= local <= 65535:
            raise SpecError(f"-l out of range: {local}")
        out.append(Forward(local, args.port, args.remote_host or ""))
    elif args.local_port is not None or args.remote_host:
        raise SpecError("-l and --remote-host go with -p")
    out += [parse_L(s) for s in args.forwards]
    if not out:
        raise SpecError("nothing to forward: give -p REMOTE_PORT or -L [LOCAL:]HOST:REMOTE")
    used = [f.local_port for f in out if f.local_port]
    dup = sorted({p for p in used if used.count(p) > 1})
    if dup:
        raise SpecError(f"local port used twice: {', '.join(map(str, dup))}")
    return out


def parse(argv: list[str] | None = None):
    """-> (args, forwards); a usage error exits 2 (SystemExit, as argparse does)."""
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        forwards = [] if args.print_target else forwards_from_args(args)
    except SpecError as e:
        ap.error(str(e))
    return args, forwards


def main(argv: list[str] | None = None) -> int:
    return _entry.run(PROG, lambda: _main(argv))


def _main(argv) -> int:
    args, forwards = parse(argv)
    from . import app
    return app.run(args, forwards)


if __name__ == "__main__":
    sys.exit(main())
