"""Every input shape reduced to an Alarm; the decision as a pure function."""
from __future__ import annotations

import json

import pytest
from asg_unhealthy import decide as d
from asg_unhealthy import messages as m
from aws_messages import DOC_INSTANCE, alarm, eventbridge, lambda_event, metric_math, sns_envelope
from hypothesis import given
from hypothesis import strategies as st


def one(doc):
    got = m.alarms(doc)
    assert len(got) == 1
    return got[0]


@pytest.mark.parametrize("doc,shape", [
    (alarm(), "alarm"), (sns_envelope(alarm()), "sns"), (lambda_event(alarm()), "lambda"),
    (eventbridge(), "eventbridge"), (metric_math(), "alarm"),
])
def test_every_shape(doc, shape):
    a = one(doc)
    assert isinstance(a, m.Alarm), a
    assert (a.state, a.instances, a.region, a.shape) == ("ALARM", [DOC_INSTANCE], "us-west-2", shape)


def test_region_comes_from_the_arn_not_the_display_name():
    doc = alarm(region="eu-central-1")
    assert doc["Region"] == "US West (Oregon)"
    assert one(doc).region == "eu-central-1"
    assert m.region_of_arn("arn:aws:cloudwatch:ap-northeast-1:1:alarm:x:y") == "ap-northeast-1"
    assert m.region_of_arn("not an arn") is None and m.region_of_arn(None) is None


def test_lambda_event_with_several_records_and_a_bad_one():
    ev = lambda_event(alarm("i-1"), alarm("i-2", state="OK"))
    ev["Records"].append({"EventSource": "aws:sns", "Sns": {"Message": "{not json"}})
    got = m.alarms(ev)
    assert [g.instances for g in got[:2]] == [["i-1"], ["i-2"]]
    assert got[1].state == "OK"
    assert isinstance(got[2], m.Malformed) and "Records[2]" in str(got[2])


def test_eventbridge_dimensions_as_a_list_too():
    ev = eventbridge()
    ev["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = [
        {"Name": "InstanceId", "Value": "i-9"}]
    assert one(ev).instances == ["i-9"]


@pytest.mark.parametrize("doc", [
    {"hello": 1}, [1], "text", {"NewStateValue": ""}, {"Type": "Notification", "Message": "[1]"},
    {"Records": []}, {"detail-type": "CloudWatch Alarm State Change", "detail": {"state": {}}},
    {"NewStateValue": "ALARM", "Trigger": "x"},
])
def test_malformed(doc):
    assert all(isinstance(x, m.Malformed) for x in m.alarms(doc))


def test_documents_one_pretty_document_or_ndjson():
    pretty = b"\n\n" + json.dumps(alarm(), indent=2).encode()
    [(line, doc)] = m.documents(pretty)
    assert line == 3 and doc["AlarmName"] == "web-status-check"
    nd = b'{"a":1}\n\n{bad\r\n[2]\n'
    got = m.documents(nd)
    assert [(n, x) for n, x in got if not isinstance(x, m.Malformed)] == [(1, {"a": 1}), (4, [2])]
    assert got[1][0] == 3 and isinstance(got[1][1], m.Malformed)
    assert m.documents(b"  \n") == []


@given(st.lists(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"]), min_size=1, max_size=8))
def test_ndjson_keeps_every_message_in_order(states):
    data = b"".join(json.dumps(alarm(f"i-{i}", state=s)).encode() + b"\n" for i, s in enumerate(states))
    got = [a for _, doc in m.documents(data) for a in m.alarms(doc)]
    assert [(a.instances[0], a.state) for a in got] == [(f"i-{i}", s) for i, s in enumerate(states)]


ASG = {"InstanceId": "i-1", "AutoScalingGroupName": "web", "LifecycleState": "InService",
       "HealthStatus": "HEALTHY"}


@pytest.mark.parametrize("alarm_kw,inst,kw,want", [
    ({}, ASG, {}, ("acted", True)),
    ({"state": "OK"}, ASG, {}, ("skipped", False)),
    ({}, None, {}, ("skipped", False)),
    ({}, {**ASG, "HealthStatus": "UNHEALTHY"}, {}, ("skipped", False)),
    ({}, {**ASG, "LifecycleState": "Standby"}, {}, ("skipped", False)),
    ({}, ASG, {"expect_group": "api"}, ("skipped", False)),
    ({}, ASG, {"expect_group": "web"}, ("acted", True)),
    ({}, ASG, {"dry_run": True}, ("skipped", False)),
])
def test_decide(alarm_kw, inst, kw, want):
    a = one(alarm("i-1", **alarm_kw))
    dec = d.decide(a, inst, **kw)
    assert (dec.result, dec.act) == want, dec


def test_reasons_and_call():
    a = one(alarm("i-1"))
    assert d.decide(a, {**ASG, "HealthStatus": "UNHEALTHY"}).reason == "already unhealthy"
    assert "Standby" in d.decide(a, {**ASG, "LifecycleState": "Standby"}).reason
    assert d.decide(a, None).reason.startswith("not in an Auto Scaling group")
    assert d.decide(a, ASG, dry_run=True).reason.startswith("dry-run")
    no_dim = alarm()
    no_dim["Trigger"]["Dimensions"] = [{"name": "AutoScalingGroupName", "value": "web"}]
    assert d.precheck(one(no_dim)).reason == "no InstanceId dimension"
    assert d.health_call("i-1") == {"InstanceId": "i-1", "HealthStatus": "Unhealthy",
                                    "ShouldRespectGracePeriod": True}
    assert d.health_call("i-1", respect_grace=False)["ShouldRespectGracePeriod"] is False
