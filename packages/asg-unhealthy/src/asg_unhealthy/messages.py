"""The alarm messages asg-unhealthy reads, in every shape they arrive in, reduced to one Alarm each.

Shapes (the README's DESCRIPTION has examples of each):

- the CloudWatch alarm notification itself (the JSON that SNS carries as its `Message`):
  `AlarmName`, `AlarmArn`, `NewStateValue`, `Trigger.Dimensions` (lower-case `name`/`value`), or
  for a metric-math alarm `Trigger.Metrics[].MetricStat.Metric.Dimensions`;
- an SNS notification (`{"Type": "Notification", "Message": "<the alarm JSON as a string>"}`);
- a Lambda event from an SNS subscription (`Records[].Sns.Message`, a string): one Alarm a record;
- an EventBridge "CloudWatch Alarm State Change" event (`detail.state.value`,
  `detail.configuration.metrics[].metricStat.metric.dimensions`, a map or a list);
- a JSON array of any of these.

The input is one JSON document or NDJSON (one document a line). Pure functions, no AWS.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field


class Malformed(ValueError):
    """A message that is not one of the shapes above (or not JSON at all)."""


@dataclass
class Alarm:
    name: str | None
    arn: str | None
    state: str                      # ALARM, OK, INSUFFICIENT_DATA
    region: str | None              # the region code, from the alarm ARN (or the event's region)
    instances: list[str] = field(default_factory=list)   # distinct InstanceId dimension values
    shape: str = "alarm"            # alarm | sns | lambda | eventbridge


def region_of_arn(arn) -> str | None:
    """arn:aws:cloudwatch:us-west-2:123456789012:alarm:name -> us-west-2 (None if not an ARN)."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        return None
    return parts[3]


def _dims(d) -> list[tuple[str, str]]:
    """Dimensions as [(name, value)] from a list of {name, value} (any case) or a {name: value} map."""
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            if isinstance(k, str) and isinstance(v, str):
                out.append((k, v))
    elif isinstance(d, list):
        for x in d:
            if not isinstance(x, dict):
                continue
            k = x.get("name", x.get("Name"))
            v = x.get("value", x.get("Value"))
            if isinstance(k, str) and isinstance(v, str):
                out.append((k, v))
    return out


def _instances(dims: list[tuple[str, str]]) -> list[str]:
    seen: list[str] = []
    for k, v in dims:
        if k == "InstanceId" and v and v not in seen:
            seen.append(v)
    return seen


def _metric_dims(metrics, stat_key: str, metric_key: str) -> list[tuple[str, str]]:
    out = []
    if isinstance(metrics, list):
        for m in metrics:
            if isinstance(m, dict):
                stat = m.get(stat_key)
                if isinstance(stat, dict) and isinstance(stat.get(metric_key), dict):
                    metric = stat[metric_key]
                    out += _dims(metric.get("Dimensions", metric.get("dimensions")))
    return out


def from_alarm(doc: dict, shape: str = "alarm") -> Alarm:
    state = doc.get("NewStateValue")
    if not isinstance(state, str) or not state:
        raise Malformed("no NewStateValue")
    trigger = doc.get("Trigger")
    dims: list[tuple[str, str]] = []
    if isinstance(trigger, dict):
        dims = _dims(trigger.get("Dimensions")) + _metric_dims(trigger.get("Metrics"), "MetricStat", "Metric")
    elif trigger is not None:
        raise Malformed("Trigger is not an object")
    arn = doc.get("AlarmArn")
    return Alarm(name=doc.get("AlarmName"), arn=arn if isinstance(arn, str) else None, state=state,
                 region=region_of_arn(arn), instances=_instances(dims), shape=shape)


def from_eventbridge(doc: dict) -> Alarm:
    detail = doc.get("detail")
    if not isinstance(detail, dict):
        raise Malformed("EventBridge event without detail")
    st = detail.get("state")
    state = st.get("value") if isinstance(st, dict) else None
    if not isinstance(state, str) or not state:
        raise Malformed("EventBridge event without detail.state.value")
    conf = detail.get("configuration")
    dims = _metric_dims(conf.get("metrics"), "metricStat", "metric") if isinstance(conf, dict) else []
    resources = doc.get("resources")
    arn = resources[0] if isinstance(resources, list) and resources and isinstance(resources[0], str) else None
    region = region_of_arn(arn) or (doc.get("region") if isinstance(doc.get("region"), str) else None)
    return Alarm(name=detail.get("alarmName"), arn=arn, state=state, region=region,
                 instances=_instances(dims), shape="eventbridge")


def _decode_message(msg, shape: str) -> Alarm:
    if not isinstance(msg, str):
        raise Malformed(f"{shape} Message is not a string")
    try:
        doc = json.loads(msg)
    except ValueError as e:
        raise Malformed(f"{shape} Message is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise Malformed(f"{shape} Message is not a JSON object")
    return from_alarm(doc, shape)


def alarms(doc) -> list[Alarm | Malformed]:
    """Every Alarm in one JSON document (a Lambda event or an array gives several); a part that is
    not an alarm is a Malformed in the list, in its place."""
    if isinstance(doc, list):
        out: list[Alarm | Malformed] = []
        for x in doc:
            out += alarms(x)
        return out
    if not isinstance(doc, dict):
        return [Malformed("not a JSON object")]
    if isinstance(doc.get("Records"), list):
        out = []
        for i, rec in enumerate(doc["Records"]):
            sns = rec.get("Sns") if isinstance(rec, dict) else None
            if not isinstance(sns, dict):
                out.append(Malformed(f"Records[{i}] has no Sns"))
                continue
            try:
                out.append(_decode_message(sns.get("Message"), "lambda"))
            except Malformed as e:
                out.append(Malformed(f"Records[{i}]: {e}"))
        return out or [Malformed("Records is empty")]
    try:
        if doc.get("detail-type") == "CloudWatch Alarm State Change" or (
                doc.get("source") == "aws.cloudwatch" and "detail" in doc):
            return [from_eventbridge(doc)]
        if "Message" in doc and ("Type" in doc or "TopicArn" in doc):
            return [_decode_message(doc["Message"], "sns")]
        if "NewStateValue" in doc:
            return [from_alarm(doc)]
    except Malformed as e:
        return [e]
    return [Malformed("not a CloudWatch alarm message (no NewStateValue, Records[].Sns, "
                      "Message or EventBridge detail)")]


def documents(data: bytes) -> list[tuple[int, object]]:
    """The input as [(line, document)]: the whole input when it is one JSON document (pretty
    printed or not), else one document a line (NDJSON, blank lines skipped). A line that does not
    parse gives (line, Malformed)."""
    text = data.decode("utf-8", "replace")
    stripped = text.strip()
    if not stripped:
        return []
    try:
        doc = json.loads(stripped)
    except ValueError:
        pass
    else:
        return [(text[:len(text) - len(text.lstrip())].count("\n") + 1, doc)]
    out: list[tuple[int, object]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except ValueError as e:
            out.append((n, Malformed(f"not JSON: {e}")))
    return out
