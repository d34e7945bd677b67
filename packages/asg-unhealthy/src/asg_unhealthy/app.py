"""asg-unhealthy's run: read the messages, look their instances up in Auto Scaling (batched, one
client per region), decide (decide.py) and act; one JSON line per alarm on stdout.

boto3 is imported here, in aws_clients(), and only when a message needs an AWS call: --help, OK
alarms and malformed input never import it."""
from __future__ import annotations

import json
import os

from . import decide as d
from . import messages as m
from ._entry import write_all

PROG = "asg-unhealthy"
EXIT_OK, EXIT_API, EXIT_DATA = 0, 1, 65
BATCH = 50   # describe_auto_scaling_instances takes at most 50 InstanceIds


def is_aws_error(e: BaseException) -> bool:
    return (type(e).__module__ or "").startswith(("botocore", "boto3"))


def aws_error_text(e: BaseException) -> str:
    err = (getattr(e, "response", None) or {}).get("Error") or {}
    if err.get("Code"):
        return f"{err['Code']}: {err.get('Message', '')}".rstrip(": ")
    return str(e) or type(e).__name__


class Clients:
    """One autoscaling client per region, made on first use, the way the AWS CLI finds credentials
    and the endpoint (profile, environment, AWS_ENDPOINT_URL, config files)."""

    def __init__(self, profile=None, region=None, endpoint_url=None):
        self.profile, self.region, self.endpoint_url = profile, region, endpoint_url
        self._session = None
        self._clients: dict = {}

    def autoscaling(self, region: str | None):
        if self._session is None:
            import boto3  # heavy: only once an AWS call is needed

            self._session = boto3.Session(profile_name=self.profile,
                                          region_name=self.region or os.environ.get("AWS_REGION") or None)
        region = region or self._session.region_name
        if not region:
            raise RuntimeError("no AWS region: the alarm ARN has none; use --region, AWS_REGION or a profile")
        if region not in self._clients:
            self._clients[region] = self._session.client("autoscaling", region_name=region,
                                                         endpoint_url=self.endpoint_url)
        return self._clients[region]


class Runner:
    def __init__(self, clients: Clients, *, dry_run=False, no_grace=False, expect_group=None):
        self.clients = clients
        self.dry_run, self.no_grace, self.expect_group = dry_run, no_grace, expect_group
        self.known: dict[tuple, dict | None] = {}    # (region, instance) -> ASG entry, this run

    def _lookup(self, alarms: list[m.Alarm]) -> dict[tuple, str]:
        """Describe every instance not yet known, 50 a call per region; -> {(region, id): error}."""
        want: dict[str | None, list[str]] = {}
        for a in alarms:
            if d.precheck(a) is None and (a.region, a.instances[0]) not in self.known:
                ids = want.setdefault(a.region, [])
                if a.instances[0] not in ids:
                    ids.append(a.instances[0])
        failed: dict[tuple, str] = {}
        for region, ids in want.items():
            for i in range(0, len(ids), BATCH):
                chunk = ids[i:i + BATCH]
                try:
                    asg = self.clients.autoscaling(region)
                    found = {x["InstanceId"]: x for x in asg.describe_auto_scaling_instances(
                        InstanceIds=chunk).get("AutoScalingInstances", [])}
                except Exception as e:
                    if not (is_aws_error(e) or isinstance(e, RuntimeError)):
                        raise
                    for iid in chunk:
                        failed[(region, iid)] = aws_error_text(e)
                    continue
                for iid in chunk:
                    self.known[(region, iid)] = found.get(iid)
        return failed

    def handle(self, items: list[tuple[str, m.Alarm | m.Malformed]]) -> tuple[list[dict], int]:
        """[(source, Alarm or Malformed)] -> (one result dict each, exit status)."""
        failed = self._lookup([a for _, a in items if isinstance(a, m.Alarm)])
        out, rc = [], EXIT_OK
        for source, a in items:
            if isinstance(a, m.Malformed):
                out.append({"source": source, "result": "malformed", "reason": str(a)})
                rc = rc or EXIT_DATA
                continue
            rec = {"source": source, "alarm": a.name, "state": a.state, "region": a.region,
                   "instance": a.instances[0] if len(a.instances) == 1 else None}
            key = (a.region, a.instances[0]) if a.instances else None
            if d.precheck(a) is None and key in failed:
                out.append({**rec, "result": "error", "reason": failed[key]})
                rc = EXIT_API
                continue
            dec = d.decide(a, self.known.get(key), expect_group=self.expect_group, dry_run=self.dry_run)
            rec.update(group=dec.group, result=dec.result, reason=dec.reason)
            if dec.act:
                try:
                    self.clients.autoscaling(a.region).set_instance_health(
                        **d.health_call(dec.instance, respect_grace=not self.no_grace))
                except Exception as e:
                    if not (is_aws_error(e) or isinstance(e, RuntimeError)):
                        raise
                    rec.update(result="error", reason=aws_error_text(e))
                    rc = EXIT_API
                else:
                    rec["grace_period_respected"] = not self.no_grace
                    self.known[key] = {**self.known[key], "HealthStatus": "Unhealthy"}
            out.append(rec)
        return out, rc


def items_of(data: bytes, name: str) -> list[tuple[str, m.Alarm | m.Malformed]]:
    items = []
    for line, doc in m.documents(data):
        src = f"{name}:{line}"
        if isinstance(doc, m.Malformed):
            items.append((src, doc))
        else:
            items += [(src, a) for a in m.alarms(doc)]
    return items


def run(args, *, stdin, stdout, stderr) -> int:
    runner = Runner(Clients(args.profile, args.region, args.endpoint_url), dry_run=args.dry_run,
                    no_grace=args.no_grace, expect_group=args.expect_group)
    rc = EXIT_OK
    bad, first_bad = 0, None

    def say(text: str) -> None:
        stderr.write(f"{PROG}: {text}\n".encode("utf-8", "surrogateescape"))
        stderr.flush()

    for name in args.files or ["-"]:
        try:
            if name == "-":
                data = stdin.read()
            else:
                with open(name, "rb") as f:
                    data = f.read()
        except OSError as e:
            say(f"{name}: {e.strerror or e}")
            rc = EXIT_API
            continue
        results, frc = runner.handle(items_of(data, name))
        if frc == EXIT_API or not rc:
            rc = frc or rc
        for r in results:
            if r["result"] == "malformed":
                bad += 1
                first_bad = first_bad or f"{r['source']}: {r['reason']}"
            elif r["result"] == "error":
                say(f"{r['source']}: {r.get('instance')}: AWS error: {r['reason']}")
        if results:
            write_all(stdout, b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n"
                                       for r in results))
            stdout.flush()
    if bad:
        say(f"{first_bad}" + (f" (and {bad - 1} more malformed message{'s' if bad > 2 else ''})"
                              if bad > 1 else ""))
    return rc
