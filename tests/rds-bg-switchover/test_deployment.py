"""The pure decisions: readiness, green instances, lag, the end of a wait."""
from __future__ import annotations

import pytest
from rds_bg_switchover import deployment as dp

ARN = "arn:aws:rds:us-east-1:123456789012:db:"


def dep(status="AVAILABLE", members=("AVAILABLE",)):
    return {"BlueGreenDeploymentIdentifier": "bgd-1", "Status": status,
            "Source": ARN + "db1", "Target": ARN + "db1-green-abc",
            "SwitchoverDetails": [{"SourceMember": ARN + f"db{i}", "TargetMember": ARN + f"db{i}-green-abc",
                                   "Status": s} for i, s in enumerate(members, 1)]}


@pytest.mark.parametrize("d,n", [
    (dep(), 0), (dep("PROVISIONING"), 1), (dep(members=("AVAILABLE", "MISSING_TARGET")), 1),
    (dep("SWITCHOVER_COMPLETED", ("SWITCHOVER_COMPLETED",)), 2), (dep(members=()), 1),
])
def test_not_ready(d, n):
    assert len(dp.not_ready(d)) == n


def test_not_ready_names_the_member():
    [why] = dp.not_ready(dep(members=("AVAILABLE", "MISSING_TARGET")))
    assert why == f"member {ARN}db2 -> {ARN}db2-green-abc is MISSING_TARGET"


def test_green_instances_and_ids():
    assert dp.green_instances(dep(members=("AVAILABLE", "AVAILABLE"))) == ["db1-green-abc", "db2-green-abc"]
    assert dp.instance_id("arn:aws:rds:us-east-1:1:cluster:c1") is None
    assert dp.instance_id(ARN + "x") == "x"


def test_lag_problems():
    assert dp.lag_problems({"a": 0.0, "b": 5.0}, 5) == []
    assert dp.lag_problems({"a": 6.5}, 5) == ["ReplicaLag of a is 6.5 s, more than 5 s"]
    assert dp.lag_problems({"a": None}, 5) == ["no recent ReplicaLag datapoint for a"]


@pytest.mark.parametrize("status,done,code", [
    ("SWITCHOVER_COMPLETED", True, 0), ("SWITCHOVER_FAILED", True, 5), ("INVALID_CONFIGURATION", True, 5),
    ("SWITCHOVER_IN_PROGRESS", False, 0), ("AVAILABLE", False, 0),
])
def test_outcome(status, done, code):
    o = dp.outcome(status)
    assert (o.done, o.exit if o.done else 0) == (done, code)


def test_wait_prints_transitions_and_meets_the_deadline():
    import io
    import json

    from rds_bg_switchover.app import Out, wait

    seq = iter(["SWITCHOVER_IN_PROGRESS", "SWITCHOVER_IN_PROGRESS", "SWITCHOVER_COMPLETED"])
    now = [0.0]

    class RDS:
        def describe_blue_green_deployments(self, **kw):
            return {"BlueGreenDeployments": [{"Status": next(seq)}]}

    def sleep(s):
        now[0] += s

    buf = io.BytesIO()
    rc = wait(RDS(), Out(buf), "bgd-1", "AVAILABLE", poll=10, deadline=100, clock=lambda: now[0], sleep=sleep)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert rc == 0
    assert [(x["previous"], x["status"]) for x in lines] == [
        ("AVAILABLE", "SWITCHOVER_IN_PROGRESS"), ("SWITCHOVER_IN_PROGRESS", "SWITCHOVER_COMPLETED")]
    assert now[0] == 30

    class Stuck:
        def describe_blue_green_deployments(self, **kw):
            return {"BlueGreenDeployments": [{"Status": "SWITCHOVER_IN_PROGRESS"}]}

    now[0] = 0.0
    buf = io.BytesIO()
    rc = wait(Stuck(), Out(buf), "bgd-1", "SWITCHOVER_IN_PROGRESS", poll=10, deadline=25,
              clock=lambda: now[0], sleep=sleep)
    assert rc == 6 and now[0] == 25
    assert json.loads(buf.getvalue().splitlines()[-1])["event"] == "deadline"
