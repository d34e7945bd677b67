"""What to do with one alarm: pure functions over the Alarm (messages.py) and what Auto Scaling
said about its instance (an AutoScalingInstances entry of describe_auto_scaling_instances, or None
when the instance is in no group). No AWS here; app.py asks and acts."""
from __future__ import annotations

from dataclasses import dataclass

from .messages import Alarm

ACTED = "acted"
SKIPPED = "skipped"


@dataclass
class Decision:
    result: str            # acted | skipped
    reason: str
    instance: str | None = None
    group: str | None = None
    act: bool = False      # call set_instance_health


def precheck(alarm: Alarm) -> Decision | None:
    """A decision that needs no AWS call (the alarm is not firing, names no single instance), or
    None when the instance has to be looked up."""
    if alarm.state != "ALARM":
        return Decision(SKIPPED, f"state {alarm.state}, not ALARM")
    if not alarm.instances:
        return Decision(SKIPPED, "no InstanceId dimension")
    if len(alarm.instances) > 1:
        return Decision(SKIPPED, "several InstanceId dimensions: " + ", ".join(alarm.instances))
    return None


def decide(alarm: Alarm, asg_instance: dict | None, *, expect_group: str | None = None,
           dry_run: bool = False) -> Decision:
    pre = precheck(alarm)
    if pre is not None:
        return pre
    iid = alarm.instances[0]
    if asg_instance is None:
        return Decision(SKIPPED, "not in an Auto Scaling group (or no such instance)", iid)
    group = asg_instance.get("AutoScalingGroupName")
    if expect_group is not None and group != expect_group:
        return Decision(SKIPPED, f"in group {group}, not {expect_group}", iid, group)
    if str(asg_instance.get("HealthStatus", "")).upper() == "UNHEALTHY":
        return Decision(SKIPPED, "already unhealthy", iid, group)
    state = asg_instance.get("LifecycleState")
    if state != "InService":
        return Decision(SKIPPED, f"lifecycle state {state}, not InService", iid, group)
    if dry_run:
        return Decision(SKIPPED, "dry-run: would set Unhealthy", iid, group)
    return Decision(ACTED, "set Unhealthy", iid, group, act=True)


def health_call(instance_id: str, *, respect_grace: bool = True) -> dict:
    """The set_instance_health parameters."""
    return {"InstanceId": instance_id, "HealthStatus": "Unhealthy",
            "ShouldRespectGracePeriod": respect_grace}
