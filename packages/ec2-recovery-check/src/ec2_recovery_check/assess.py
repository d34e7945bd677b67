"""Can automatic recovery work for an instance, and if not, why: pure functions over the shapes of
describe-instances, describe-images, describe-instance-types, describe-launch-template-versions
and describe-alarms (the same dicts from boto3 or from captured AWS CLI JSON)."""
from __future__ import annotations

import json
import re

RECOVER_ARN = "arn:aws:automate:{region}:ec2:recover"
_RECOVER = re.compile(r"^arn:aws[a-z-]*:automate:[a-z0-9-]+:ec2:recover$|"
                      r"^arn:aws[a-z-]*:swf:[a-z0-9-]+:\d+:action/actions/AWS_EC2\.InstanceId\.Recover/1\.0$")
LT_ID, LT_VERSION = "aws:ec2launchtemplate:id", "aws:ec2launchtemplate:version"


def alarm_name(instance_id: str) -> str:
    """The fixed name --apply uses: a rerun updates this alarm, never adds a second one."""
    return f"ec2-recovery-check-{instance_id}"


def recover_alarm(instance_id: str, region: str) -> dict:
    """put_metric_alarm's arguments for the instance's StatusCheckFailed_System recover alarm."""
    return {"AlarmName": alarm_name(instance_id),
            "AlarmDescription": "Recover the instance when the system status check fails (ec2-recovery-check)",
            "Namespace": "AWS/EC2", "MetricName": "StatusCheckFailed_System",
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 2, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
            "AlarmActions": [RECOVER_ARN.format(region=region)]}


def recover_alarms(alarms: list[dict], instance_id: str) -> list[str]:
    """Names of the alarms on this instance whose actions include a recover action."""
    out = []
    for a in alarms:
        dims = {d.get("Name"): d.get("Value") for d in a.get("Dimensions") or []}
        if dims.get("InstanceId") != instance_id:
            continue
        if any(_RECOVER.match(x) for x in a.get("AlarmActions") or []):
            out.append(a["AlarmName"])
    return sorted(out)


def _tags(inst: dict) -> dict:
    return {t.get("Key"): t.get("Value") for t in inst.get("Tags") or []}


def ephemeral_mappings(image: dict) -> dict:
    """{device name: ephemeralN} of the AMI's instance store mappings."""
    return {m.get("DeviceName"): m["VirtualName"] for m in image.get("BlockDeviceMappings") or []
            if str(m.get("VirtualName", "")).startswith("ephemeral")}


def suppressed_devices(lt_version: dict) -> set[str]:
    """Devices the launch template version suppresses (`NoDevice`), i.e. drops from the AMI's
    mappings at launch."""
    data = lt_version.get("LaunchTemplateData") or {}
    return {m.get("DeviceName") for m in data.get("BlockDeviceMappings") or [] if "NoDevice" in m}


def assess(inst: dict, image: dict | None, type_info: dict | None, lt_versions: dict, alarms: list[dict]) -> dict:
    """One report line: instance_id, recoverable, reasons, auto_recovery, recover_alarms (plus
    instance_type, image_id and the launch template when there is one)."""
    iid = inst["InstanceId"]
    itype = inst.get("InstanceType")
    reasons = []
    if type_info is None:
        reasons.append(f"instance type {itype}: no describe-instance-types entry, so AutoRecoverySupported is unknown")
    elif not type_info.get("AutoRecoverySupported", False):
        reasons.append(f"instance type {itype} does not support automatic recovery (AutoRecoverySupported false)")
    ami = inst.get("ImageId")
    tags = _tags(inst)
    lt = None
    if tags.get(LT_ID):
        lt = {"id": tags[LT_ID], "version": tags.get(LT_VERSION)}
    if image is None:
        reasons.append(f"AMI {ami} not found (deregistered or not shared): its instance store mappings cannot "
                       "be checked")
    else:
        eph = ephemeral_mappings(image)
        if eph:
            ltv = lt_versions.get((lt["id"], str(lt["version"]))) if lt else None
            left = dict(eph)
            if ltv is not None:
                for dev in suppressed_devices(ltv):
                    left.pop(dev, None)
            if left:
                where = ", ".join(f"{v} on {k}" for k, v in sorted(left.items()))
                if ltv is not None:
                    why = f"launch template {lt['id']} version {lt['version']} does not suppress them (NoDevice)"
                elif lt:
                    why = (f"launch template {lt['id']} version {lt['version']} not found, so a NoDevice "
                           "override cannot be confirmed")
                else:
                    why = ("describe-instances never shows launch-time overrides and the instance came from no "
                           "launch template, so a NoDevice override cannot be confirmed")
                reasons.append(f"AMI {ami} maps instance store ({where}); {why}")
    tenancy = (inst.get("Placement") or {}).get("Tenancy")
    if tenancy == "host":
        reasons.append("tenancy host (Dedicated Host): automatic recovery needs default or dedicated tenancy")
    if not inst.get("VpcId"):
        reasons.append("not in a VPC (EC2-Classic)")
    out = {"instance_id": iid, "recoverable": not reasons, "reasons": reasons,
           "auto_recovery": (inst.get("MaintenanceOptions") or {}).get("AutoRecovery"),
           "recover_alarms": recover_alarms(alarms, iid), "instance_type": itype, "image_id": ami}
    if lt:
        out["launch_template"] = lt
    return out


def protected(line: dict) -> bool:
    return bool(line["recover_alarms"]) or line["auto_recovery"] == "default"


def check_status(lines: list[dict]) -> tuple[int, str]:
    """Nagios codes, as mackerel-agent's check monitoring reads them: 0 every instance recoverable
    and protected (a recover alarm or simplified automatic recovery on), 1 some recoverable but
    unprotected, 2 some cannot recover."""
    bad = [x["instance_id"] for x in lines if not x["recoverable"]]
    bare = [x["instance_id"] for x in lines if x["recoverable"] and not protected(x)]
    if bad:
        return 2, f"EC2 RECOVERY CRITICAL: {len(bad)} of {len(lines)} cannot recover: {' '.join(bad)}"
    if bare:
        return 1, f"EC2 RECOVERY WARNING: {len(bare)} of {len(lines)} recoverable but unprotected: {' '.join(bare)}"
    return 0, f"EC2 RECOVERY OK: {len(lines)} instance(s) recoverable and protected"


# -- --offline: captured AWS CLI JSON, one document after another -----------------------------
class Captured:
    def __init__(self):
        self.instances: list[dict] = []
        self.images: dict = {}
        self.types: dict = {}
        self.lt_versions: dict = {}
        self.alarms: list[dict] = []

    def add(self, doc) -> bool:
        if not isinstance(doc, dict):
            return False
        known = False
        for r in doc.get("Reservations") or []:
            self.instances.extend(r.get("Instances") or [])
            known = True
        for im in doc.get("Images") or []:
            self.images[im.get("ImageId")] = im
        for v in doc.get("LaunchTemplateVersions") or []:
            self.lt_versions[(v.get("LaunchTemplateId"), str(v.get("VersionNumber")))] = v
        for t in doc.get("InstanceTypes") or []:
            self.types[t.get("InstanceType")] = t
        self.alarms.extend(doc.get("MetricAlarms") or [])
        return known or any(k in doc for k in ("Reservations", "Images", "LaunchTemplateVersions",
                                                "InstanceTypes", "MetricAlarms"))


def documents(text: str):
    """JSON documents one after another (pretty or one a line), with their starting line."""
    dec = json.JSONDecoder()
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return
        line = text.count("\n", 0, i) + 1
        try:
            doc, i = dec.raw_decode(text, i)
        except ValueError as e:
            raise ValueError(f"line {line}: not JSON ({e.msg})") from None
        yield line, doc
