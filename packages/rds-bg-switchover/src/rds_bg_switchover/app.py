"""rds-bg-switchover's run: describe, check, (dry-run stop), switch over, wait. One JSON line per
step on stdout. boto3 is imported here, in clients(), only after the arguments were parsed."""
from __future__ import annotations

import json
import os
import time

from . import deployment as dp
from ._entry import write_all

PROG = "rds-bg-switchover"
EXIT_OK, EXIT_API, EXIT_REFUSED, EXIT_NOT_FOUND, EXIT_FAILED, EXIT_DEADLINE = 0, 1, 3, 4, 5, 6
NOT_FOUND_CODES = ("BlueGreenDeploymentNotFoundFault", "BlueGreenDeploymentNotFound")


class Stop(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def clients(args):
    import boto3  # heavy: only after the arguments are known to be good

    session = boto3.Session(profile_name=args.profile,
                            region_name=args.region or os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise Stop(EXIT_API, "no AWS region: use --region, AWS_REGION or a profile with a region")
    rds = session.client("rds", endpoint_url=args.endpoint_url)
    cw = session.client("cloudwatch", endpoint_url=args.endpoint_url) if args.check_replica_lag is not None else None
    return rds, cw


class Out:
    def __init__(self, stdout):
        self.stdout = stdout

    def line(self, event: str, **fields) -> None:
        rec = {"event": event, **fields}
        write_all(self.stdout, json.dumps(rec, separators=(",", ":"), default=str).encode() + b"\n")
        self.stdout.flush()


def find(rds, args) -> dict:
    if args.id:
        try:
            deps = rds.describe_blue_green_deployments(BlueGreenDeploymentIdentifier=args.id)[
                "BlueGreenDeployments"]
        except Exception as e:
            if _code(e) in NOT_FOUND_CODES:
                raise Stop(EXIT_NOT_FOUND, f"no blue/green deployment {args.id}") from None
            raise
        what = args.id
    else:
        deps = rds.describe_blue_green_deployments(Filters=[
            {"Name": "blue-green-deployment-name", "Values": [args.name]}])["BlueGreenDeployments"]
        what = f"named {args.name}"
    if not deps:
        raise Stop(EXIT_NOT_FOUND, f"no blue/green deployment {what}")
    if len(deps) > 1:
        raise Stop(EXIT_REFUSED, f"{len(deps)} blue/green deployments {what}: give --id")
    return deps[0]


def replica_lags(cw, instances: list[str], now: float) -> dict[str, float | None]:
    """The latest ReplicaLag (Maximum over 1 minute, last 10 minutes) of each green instance."""
    from datetime import datetime, timezone

    end = datetime.fromtimestamp(now, timezone.utc)
    start = datetime.fromtimestamp(now - 600, timezone.utc)
    out: dict[str, float | None] = {}
    for iid in instances:
        pts = cw.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="ReplicaLag", StartTime=start, EndTime=end, Period=60,
            Statistics=["Maximum"], Dimensions=[{"Name": "DBInstanceIdentifier", "Value": iid}])["Datapoints"]
        out[iid] = max(pts, key=lambda p: p["Timestamp"])["Maximum"] if pts else None
    return out


def _code(e) -> str | None:
    return ((getattr(e, "response", None) or {}).get("Error") or {}).get("Code")


def run_list(rds, out: Out) -> int:
    pages = rds.get_paginator("describe_blue_green_deployments").paginate()
    for page in pages:
        for dep in page.get("BlueGreenDeployments", []):
            out.line("deployment", **dp.summary(dep))
    return EXIT_OK


def wait(rds, out: Out, dep_id: str, status: str, *, poll: float, deadline: float,
         clock=time.monotonic, sleep=time.sleep) -> int:
    """Poll until SWITCHOVER_COMPLETED (0), SWITCHOVER_FAILED / INVALID_CONFIGURATION (5) or the
    deadline (6); one line per status transition."""
    start = clock()
    while True:
        o = dp.outcome(status)
        if o.done:
            return o.exit
        left = start + deadline - clock()
        if left <= 0:
            out.line("deadline", id=dep_id, status=status, waited=round(clock() - start, 1))
            return EXIT_DEADLINE
        sleep(min(poll, left))
        dep = rds.describe_blue_green_deployments(BlueGreenDeploymentIdentifier=dep_id)[
            "BlueGreenDeployments"][0]
        new = dep.get("Status")
        if new != status:
            out.line("status", id=dep_id, status=new, previous=status,
                     elapsed=round(clock() - start, 1),
                     **({"status_details": dep["StatusDetails"]} if dep.get("StatusDetails") else {}))
            status = new


def _waited(rds, out, dep_id, status, args, deadline, say) -> int:
    rc = wait(rds, out, dep_id, status, poll=args.poll, deadline=deadline)
    if rc == EXIT_FAILED:
        say(f"{dep_id}: switchover did not complete")
    elif rc == EXIT_DEADLINE:
        say(f"{dep_id}: still not SWITCHOVER_COMPLETED after {deadline:g} s")
    return rc


def run(args, *, stdout, stderr) -> int:
    out = Out(stdout)

    def say(text: str) -> None:
        stderr.write(f"{PROG}: {text}\n".encode("utf-8", "surrogateescape"))
        stderr.flush()

    try:
        rds, cw = clients(args)
        if args.list:
            return run_list(rds, out)
        dep = find(rds, args)
        dep_id = dep["BlueGreenDeploymentIdentifier"]
        out.line("deployment", **dp.summary(dep))
        deadline = args.deadline if args.deadline is not None else args.timeout + 300
        if dep.get("Status") == dp.IN_PROGRESS and args.wait and not args.dry_run:
            # a run that lost its connection (or another operator) started it: follow it, never
            # start a second one
            out.line("attach", id=dep_id, status=dp.IN_PROGRESS)
            return _waited(rds, out, dep_id, dp.IN_PROGRESS, args, deadline, say)
        why = dp.not_ready(dep)
        if not why and args.check_replica_lag is not None:
            lags = replica_lags(cw, dp.green_instances(dep), time.time())
            out.line("replica_lag", id=dep_id, lags=lags, max=args.check_replica_lag)
            why = dp.lag_problems(lags, args.check_replica_lag)
        if why:
            out.line("refused", id=dep_id, reasons=why)
            raise Stop(EXIT_REFUSED, f"{dep_id}: refused: " + "; ".join(why))
        if args.dry_run:
            out.line("dry-run", id=dep_id, would="switchover_blue_green_deployment",
                     timeout=args.timeout)
            return EXIT_OK
        got = rds.switchover_blue_green_deployment(BlueGreenDeploymentIdentifier=dep_id,
                                                   SwitchoverTimeout=args.timeout)["BlueGreenDeployment"]
        status = got.get("Status")
        out.line("switchover", id=dep_id, status=status, previous=dep.get("Status"), timeout=args.timeout)
        if not args.wait:
            return EXIT_OK
        return _waited(rds, out, dep_id, status, args, deadline, say)
    except Stop as e:
        say(str(e))
        return e.code
    except Exception as e:
        if not (type(e).__module__ or "").startswith(("botocore", "boto3")):
            raise
        err = (getattr(e, "response", None) or {}).get("Error") or {}
        say("AWS error: " + (f"{err.get('Code')}: {err.get('Message', '')}" if err.get("Code") else str(e)))
        return EXIT_API
