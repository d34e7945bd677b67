"""The run: gather the documents (from AWS through boto3, or captured JSON with --offline), assess
each instance, put the recover alarms with --apply, print one JSON line per instance."""
from __future__ import annotations

import json
import sys

from . import _entry
from .assess import Captured, assess, check_status, documents, recover_alarm

PROG = "ec2-recovery-check"
UNKNOWN = 3


def run(args, stdin=None, stdout=None, stderr=None) -> int:
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr.buffer
    fail = UNKNOWN if args.check else 1
    aws = None
    if args.offline:
        cap = Captured()
        try:
            for line, doc in documents(stdin.read().decode("utf-8")):
                if not cap.add(doc):
                    _entry.say(stderr, f"{PROG}: -:{line}: a document with none of Reservations, Images, "
                         "LaunchTemplateVersions, InstanceTypes, MetricAlarms: skipped\n")
        except (ValueError, UnicodeDecodeError) as e:
            _entry.say(stderr, f"{PROG}: -: {e}\n")
            return fail
        region = args.region or "us-east-1"
        wanted = set(args.instance_ids)
        tag = args.tag
        insts = [i for i in cap.instances if (not wanted or i["InstanceId"] in wanted)
                 and all({t.get("Key"): t.get("Value") for t in i.get("Tags") or []}.get(k) == v for k, v in tag)]
    else:
        from .aws import Aws, AwsError
        try:
            aws = Aws(args.region, args.profile, args.endpoint_url)
            cap = aws.gather(args.instance_ids, args.tag)
        except AwsError as e:
            _entry.say(stderr, f"{PROG}: {e}\n")
            return fail
        region = aws.region
        insts = cap.instances
    lines = []
    for inst in insts:
        line = assess(inst, cap.images.get(inst.get("ImageId")), cap.types.get(inst.get("InstanceType")),
                      cap.lt_versions, cap.alarms)
        if (args.apply or args.dry_run) and line["recoverable"] and not line["recover_alarms"]:
            alarm = recover_alarm(line["instance_id"], region)
            if args.dry_run or aws is None:
                line["action"] = {"would_put_alarm": alarm}
            else:
                try:
                    aws.put_alarm(alarm)
                except AwsError as e:
                    _entry.say(stderr, f"{PROG}: {e}\n")
                    return fail
                line["action"] = {"put_alarm": alarm["AlarmName"]}
                line["recover_alarms"] = sorted([*line["recover_alarms"], alarm["AlarmName"]])
        elif args.apply or args.dry_run:
            line["action"] = None
        lines.append(line)
    out = [json.dumps(x, separators=(", ", ": ")) for x in lines]
    rc = 0
    if args.check:
        rc, status = check_status(lines) if lines else (UNKNOWN, "EC2 RECOVERY UNKNOWN: no instance matched")
        out.insert(0, status)
    _entry.write_all(stdout, ("\n".join(out) + "\n").encode() if out else b"")
    return rc
