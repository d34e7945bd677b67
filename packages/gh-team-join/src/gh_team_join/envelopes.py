"""The deliveries gh-team-join reads, in every shape they arrive in, reduced to one Delivery each.

Shapes (the README's DESCRIPTION has an example of each):

- a raw webhook payload (the JSON GitHub POSTs: `action`, `comment`, `issue`, `repository` ...),
  with no headers, so unsigned;
- a Lambda function URL or API Gateway event (payload 2.0 or 1.0): `headers` (any case; the
  signature, event and delivery headers are read from them) and `body`, base64 when
  `isBase64Encoded`; a form-encoded body (`payload=<json>`) is read too; the signature is checked
  over the raw body bytes;
- an SNS notification (`{"Type": "Notification", "Message": "<payload JSON>"}`) or a Lambda event
  from an SNS subscription (`Records[].Sns.Message`): the post's path; no headers, so unsigned;
  the SNS MessageId stands for the delivery id (SNS redelivers with the same one);
- a JSON array of any of these.

The input is one JSON document or NDJSON (one document a line). Pure functions, no network."""
from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass


class Malformed(ValueError):
    """A document that is not one of the shapes above (or not JSON at all)."""


@dataclass
class Delivery:
    payload: dict
    shape: str                         # webhook | http | sns
    headers: dict | None = None        # lower-case names; None: the input carried no headers
    body: bytes | None = None          # the raw HTTP body (what the signature covers)
    sns_id: str | None = None

    @property
    def id(self) -> str | None:
        if self.headers and self.headers.get("x-github-delivery"):
            return self.headers["x-github-delivery"]
        return f"sns:{self.sns_id}" if self.sns_id else None

    @property
    def event(self) -> str | None:
        return self.headers.get("x-github-event") if self.headers else None


def _payload_of_text(text, what: str) -> dict:
    if not isinstance(text, str | bytes):
        raise Malformed(f"{what} is not a string")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise Malformed(f"{what} is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise Malformed(f"{what} is not a JSON object")
    return doc


def from_http(doc: dict) -> Delivery:
    raw_headers = doc.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise Malformed("headers is not an object")
    headers = {str(k).lower(): v if isinstance(v, str) else ",".join(map(str, v)) if isinstance(v, list) else str(v)
               for k, v in raw_headers.items()}
    body = doc.get("body")
    if body is None:
        raise Malformed("HTTP event without a body")
    if not isinstance(body, str):
        raise Malformed("HTTP event body is not a string")
    if doc.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogateescape")
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
        if "payload" not in form:
            raise Malformed("form body without a payload field")
        payload = _payload_of_text(form["payload"][0], "payload field")
    else:
        payload = _payload_of_text(raw, "body")
    return Delivery(payload=payload, shape="http", headers=headers, body=raw)


def _sns(msg_holder: dict, what: str) -> Delivery:
    mid = msg_holder.get("MessageId")
    return Delivery(payload=_payload_of_text(msg_holder.get("Message"), f"{what} Message"), shape="sns",
                    sns_id=mid if isinstance(mid, str) else None)


def deliveries(doc) -> list[Delivery | Malformed]:
    """Every Delivery in one JSON document (a Lambda SNS event or an array gives several); a part
    that is not a delivery is a Malformed in its place."""
    if isinstance(doc, list):
        out: list[Delivery | Malformed] = []
        for x in doc:
            out += deliveries(x)
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
                out.append(_sns(sns, "Records[].Sns"))
            except Malformed as e:
                out.append(Malformed(f"Records[{i}]: {e}"))
        return out or [Malformed("Records is empty")]
    try:
        if "Message" in doc and ("Type" in doc or "TopicArn" in doc):
            return [_sns(doc, "SNS")]
        if "headers" in doc and "body" in doc:
            return [from_http(doc)]
    except Malformed as e:
        return [e]
    if "action" in doc or "comment" in doc or "zen" in doc or "hook_id" in doc:
        return [Delivery(payload=doc, shape="webhook")]
    return [Malformed("not a GitHub delivery (no webhook payload, HTTP event headers/body, "
                      "or SNS Message)")]


def documents(data: bytes) -> list[tuple[int, object]]:
    """The input as [(line, document)]: the whole input when it is one JSON document (pretty
    printed or not), else one document a line (NDJSON, blank lines skipped). A line that does not
    parse gives (line, Malformed)."""
    text = data.decode("utf-8", "surrogateescape")
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
