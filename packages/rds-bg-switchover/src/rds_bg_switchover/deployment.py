"""Blue/Green deployment decisions as pure functions over describe_blue_green_deployments'
entries (dicts as boto3 returns them). No AWS here; app.py asks and acts."""
from __future__ import annotations

from dataclasses import dataclass

AVAILABLE = "AVAILABLE"
COMPLETED = "SWITCHOVER_COMPLETED"
FAILED = ("SWITCHOVER_FAILED", "INVALID_CONFIGURATION")
IN_PROGRESS = "SWITCHOVER_IN_PROGRESS"


def summary(dep: dict) -> dict:
    """One JSON-able line for a deployment (--list, and the first line of every run)."""
    return {
        "id": dep.get("BlueGreenDeploymentIdentifier"),
        "name": dep.get("BlueGreenDeploymentName"),
        "status": dep.get("Status"),
        "source": dep.get("Source"),
        "target": dep.get("Target"),
        "members": [{"source": m.get("SourceMember"), "target": m.get("TargetMember"),
                     "status": m.get("Status")} for m in dep.get("SwitchoverDetails") or []],
        "created": _iso(dep.get("CreateTime")),
        **({"status_details": dep["StatusDetails"]} if dep.get("StatusDetails") else {}),
    }


def _iso(t):
    return t.isoformat() if hasattr(t, "isoformat") else t


def not_ready(dep: dict) -> list[str]:
    """Why a switchover must not start now ([] when it may): the deployment and every
    SwitchoverDetails member must be AVAILABLE."""
    why = []
    status = dep.get("Status")
    if status != AVAILABLE:
        why.append(f"deployment status {status}, not {AVAILABLE}")
    members = dep.get("SwitchoverDetails") or []
    if not members and status == AVAILABLE:
        why.append("no SwitchoverDetails members")
    for m in members:
        if m.get("Status") != AVAILABLE:
            why.append(f"member {m.get('SourceMember')} -> {m.get('TargetMember')} is {m.get('Status')}")
    return why


def instance_id(arn: str) -> str | None:
    """arn:aws:rds:REGION:ACCOUNT:db:NAME -> NAME; None for anything but a DB instance (a cluster
    has no ReplicaLag of its own)."""
    parts = (arn or "").split(":")
    if len(parts) == 7 and parts[0] == "arn" and parts[5] == "db":
        return parts[6]
    if len(parts) == 1 and parts[0]:          # already a bare identifier
        return parts[0]
    return None


def green_instances(dep: dict) -> list[str]:
    """The green DB instances whose ReplicaLag matters (the target members that are instances)."""
    out = []
    for m in dep.get("SwitchoverDetails") or []:
        iid = instance_id(m.get("TargetMember") or "")
        if iid and iid not in out:
            out.append(iid)
    if not out:
        iid = instance_id(dep.get("Target") or "")
        if iid:
            out.append(iid)
    return out


def lag_problems(lags: dict[str, float | None], max_lag: float) -> list[str]:
    """{green instance: latest ReplicaLag seconds or None (no datapoint)} -> why to refuse."""
    why = []
    for iid, lag in lags.items():
        if lag is None:
            why.append(f"no recent ReplicaLag datapoint for {iid}")
        elif lag > max_lag:
            why.append(f"ReplicaLag of {iid} is {lag:g} s, more than {max_lag:g} s")
    return why


@dataclass
class Outcome:
    done: bool
    exit: int          # meaningful when done


def outcome(status: str | None) -> Outcome:
    """While waiting: SWITCHOVER_COMPLETED ends 0, SWITCHOVER_FAILED / INVALID_CONFIGURATION end 5,
    anything else goes on."""
    if status == COMPLETED:
        return Outcome(True, 0)
    if status in FAILED:
        return Outcome(True, 5)
    return Outcome(False, 0)
