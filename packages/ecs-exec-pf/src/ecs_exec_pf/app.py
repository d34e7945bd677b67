"""ecs-exec-pf's run: the AWS clients, the preflight (plugin, task, container, target), then
session.Runner, which owns the sessions, their plugin processes and its own SIGINT/SIGTERM/SIGHUP
handling (installed for its duration; the entry template restores what was there before).

What goes in: the parsed options and the validated forwards (cli.py); what comes out: the exit
status (the README's EXIT STATUS: 0 ok, 1 a session failed, 3 to 8 preflight and AWS
failures, 130/143 interrupted). boto3 is imported here, only once AWS is needed.
"""
from __future__ import annotations

import sys


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


def run(args, forwards, clients=None, log=None) -> int:
    """Preflight, then one session per forward until the end; -> the exit status (see README)."""
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
