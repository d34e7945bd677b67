"""The exact requests the Runner sends. moto accepts ShouldRespectGracePeriod but ignores it (its
set_instance_health says so), so the parameter is checked here with botocore's Stubber, which
asserts every request's parameters; no network is used."""
from __future__ import annotations

import boto3
import pytest
from asg_unhealthy import app
from asg_unhealthy import messages as m
from aws_messages import alarm
from botocore.stub import Stubber


class OneClient:
    def __init__(self, client):
        self.client, self.regions = client, []

    def autoscaling(self, region):
        self.regions.append(region)
        return self.client


def entry(iid, group="web", health="HEALTHY", state="InService"):
    return {"InstanceId": iid, "AutoScalingGroupName": group, "AvailabilityZone": "us-west-2a",
            "LifecycleState": state, "HealthStatus": health, "ProtectedFromScaleIn": False}


@pytest.mark.parametrize("no_grace", [False, True])
def test_grace_period_and_one_describe_for_many_alarms(no_grace):
    client = boto3.client("autoscaling", region_name="us-west-2", aws_access_key_id="x",
                          aws_secret_access_key="y")
    ids = [f"i-{n:017x}" for n in range(60)]
    with Stubber(client) as st:
        # 60 distinct instances: two calls (50 + 10), in input order
        st.add_response("describe_auto_scaling_instances",
                        {"AutoScalingInstances": [entry(i, health="UNHEALTHY") for i in ids[1:50]]
                         + [entry(ids[0])]},
                        {"InstanceIds": ids[:50]})
        st.add_response("describe_auto_scaling_instances", {"AutoScalingInstances": []},
                        {"InstanceIds": ids[50:]})
        st.add_response("set_instance_health", {},
                        {"InstanceId": ids[0], "HealthStatus": "Unhealthy",
                         "ShouldRespectGracePeriod": not no_grace})
        clients = OneClient(client)
        runner = app.Runner(clients, no_grace=no_grace)
        items = [("t", a) for i in ids for a in m.alarms(alarm(i))] + [("t", m.alarms(alarm(ids[0]))[0])]
        out, rc = runner.handle(items)
        st.assert_no_pending_responses()
    assert rc == 0
    assert [o["result"] for o in out].count("acted") == 1
    assert out[-1]["reason"] == "already unhealthy"     # the same instance again, from this run's state
    assert set(clients.regions) == {"us-west-2"}
