"""ecs-exec-pf command line: parse, preflight, then hand over to session.Runner."""
from __future__ import annotations

import argparse
import sys

from . import __version__
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


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: "ecs-exec-pf: ..." on stderr, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog=PROG, description="Forward local ports into an ECS task (or through it to a remote "
                "host) with SSM Session Manager port forwarding.")
    ap.add_argument("-c", "--cluster", "-cluster", required=True, help="ECS cluster name or ARN")
    who = ap.add_mutually_exclusive_group(required=True)
    who.add_argument("-t", "--task", "-task", help="task id or ARN")
    who.add_argument("--service", help="pick the oldest RUNNING task of this service")
    ap.add_argument("-n", "--container", "-container", help="container name (default: the first container)")
    ap.add_argument("-p", "--port", "-port", type=_int, metavar="REMOTE_PORT", help="port to reach in the task "
                    "(or on --remote-host)")
    ap.add_argument("-l", "--local-port", "-local-port", type=_int, metavar="LOCAL_PORT",
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


def make_clients(args):
    import os

    import boto3  # heavy: only once we know we need AWS

    # AWS_REGION as the AWS CLI v2 and the other SDKs read it (boto3 itself only reads
    # AWS_DEFAULT_REGION and the profile): --region, then AWS_REGION, then boto3's own lookup
    session = boto3.Session(profile_name=args.profile,
                            region_name=args.region or os.environ.get("AWS_REGION") or None)
    region = session.region_name
    if not region:
        raise ValueError("no AWS region: use --region, AWS_REGION or a profile with a region")
    ecs = session.client("ecs", endpoint_url=args.endpoint_url)
    ssm = session.client("ssm", endpoint_url=args.endpoint_url)
    return ecs, ssm, region


def run(args, clients=None, log=None) -> int:
    from .log import Log
    from .preflight import (
        EXIT_AWS,
        EXIT_NOT_FOUND,
        PreflightError,
        find_plugin,
        pick_service_task,
        resolve_target,
    )

    log = log or Log(args.log_format, debug=args.debug)
    try:
        forwards = [] if args.print_target else forwards_from_args(args)
    except SpecError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    try:
        plugin = plugin_version = None
        if not args.print_target:
            plugin, plugin_version = find_plugin()
            log.debug("plugin", f"session-manager-plugin {plugin_version} at {plugin}")
        try:
            ecs, ssm, region = clients or make_clients(args)
        except ValueError as e:
            raise PreflightError(str(e), 2) from None
        task = args.task
        if args.service:
            arns = ecs.list_tasks(cluster=args.cluster, serviceName=args.service,
                                  desiredStatus="RUNNING").get("taskArns", [])
            if not arns:
                raise PreflightError(f"no RUNNING task found for service {args.service}", 4)
            described = ecs.describe_tasks(cluster=args.cluster, tasks=arns[:100])
            task = pick_service_task(described.get("tasks") or [], args.service)
        from .preflight import last_segment
        task = last_segment(task)
        target = resolve_target(ecs.describe_tasks(cluster=args.cluster, tasks=[task]), args.cluster, task,
                                args.container)
        if args.print_target:
            sys.stdout.write(target.ssm_target + "\n")
            sys.stdout.flush()
            return 0
        log.event("target", f"target {target.ssm_target} (container {target.container})",
                  target=target.ssm_target, container=target.container)
        from .session import Runner

        runner = Runner(ecs=ecs, ssm=ssm, region=region, profile=args.profile, target=target,
                        forwards=forwards, plugin=plugin, plugin_version=plugin_version, log=log,
                        reconnect=args.reconnect, public=args.public, watch_interval=args.watch_interval)
        return runner.run()
    except PreflightError as e:
        log.event("preflight_failed", str(e), status=e.status)
        return e.status
    except Exception as e:  # botocore errors: credentials, access denied, endpoint unreachable
        mod = type(e).__module__ or ""
        code = (getattr(e, "response", None) or {}).get("Error", {}).get("Code")
        if code == "ClusterNotFoundException":
            log.event("preflight_failed", f"cluster {args.cluster} not found", status=EXIT_NOT_FOUND)
            return EXIT_NOT_FOUND
        if mod.startswith(("botocore", "boto3")):
            log.event("aws_error", f"AWS API error: {e}")
            return EXIT_AWS
        raise


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the arguments are parsed, before _main's own handler
        return 130


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
