"""Alarm messages for the tests, in the shapes the AWS documentation shows (fixtures/*.json are
written from its examples; moto sends no alarm actions, so nothing here was captured from moto)."""
from __future__ import annotations

import copy
import json
import pathlib

FIX = pathlib.Path(__file__).resolve().parent / "fixtures"
DOC_INSTANCE = "i-0123456789abcdef0"


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def _swap(doc, instance):
    return json.loads(json.dumps(doc).replace(DOC_INSTANCE, instance))


def alarm(instance=DOC_INSTANCE, state="ALARM", name="web-status-check", region="us-west-2") -> dict:
    d = _swap(load("alarm.json"), instance)
    d["NewStateValue"] = state
    d["AlarmName"] = name
    d["AlarmArn"] = f"arn:aws:cloudwatch:{region}:123456789012:alarm:{name}"
    return d


def metric_math(instance=DOC_INSTANCE) -> dict:
    return _swap(load("metric_math_alarm.json"), instance)


def eventbridge(instance=DOC_INSTANCE, state="ALARM") -> dict:
    d = _swap(load("eventbridge.json"), instance)
    d["detail"]["state"]["value"] = state
    return d


def sns_envelope(alarm_doc: dict) -> dict:
    """An SNS notification as delivered over HTTP(S) or SQS: Message is the alarm JSON, a string."""
    return {
        "Type": "Notification", "MessageId": "b3a8b6e1-1c53-5d5b-8d0d-2a2e6d3c2c9e",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:asg-unhealthy",
        "Subject": f'ALARM: "{alarm_doc["AlarmName"]}" in US West (Oregon)',
        "Message": json.dumps(alarm_doc), "Timestamp": "2026-12-07T10:01:05.180Z",
        "SignatureVersion": "1", "Signature": "EXAMPLE==",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=EXAMPLE",
    }


def lambda_event(*alarm_docs: dict) -> dict:
    """The event a Lambda function subscribed to the topic receives: one record per notification."""
    recs = []
    for a in alarm_docs:
        env = sns_envelope(a)
        sns = {k: env[k] for k in ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                                   "SignatureVersion", "Signature")}
        sns.update(SigningCertUrl=env["SigningCertURL"], UnsubscribeUrl=env["UnsubscribeURL"],
                   MessageAttributes={})
        recs.append({"EventSource": "aws:sns", "EventVersion": "1.0",
                     "EventSubscriptionArn": "arn:aws:sns:us-west-2:123456789012:asg-unhealthy:EXAMPLE",
                     "Sns": sns})
    return {"Records": recs}


def ndjson(*docs) -> bytes:
    return b"".join(json.dumps(copy.deepcopy(d)).encode() + b"\n" for d in docs)
