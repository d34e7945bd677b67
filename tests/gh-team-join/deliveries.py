"""GitHub issue_comment deliveries in the shapes gh-team-join reads, for the tests.

Signatures are computed here from GitHub's documented algorithm ("Validating webhook
deliveries": HMAC-SHA256 of the raw body with the secret, hex, prefixed sha256=), independently
of the package's own code."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

SECRET = "It's a Secret to Everybody"


def comment(login="ijin2", body="join", action="created", repo="my_org/test", user_type="User"):
    return {"action": action,
            "issue": {"number": 1, "title": "access"},
            "comment": {"id": 1, "body": body,
                        "user": {"login": login, "type": user_type,
                                 "avatar_url": f"https://avatars.githubusercontent.com/u/12809425?v=3&l={login}"}},
            "repository": {"full_name": repo, "name": repo.split("/")[1]},
            "organization": {"login": repo.split("/")[0]}, "sender": {"login": login}}


def sig(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def function_url(payload, *, secret: str | None = SECRET, delivery=None, event="issue_comment",
                 b64=False, signature=None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload, indent=1).encode()
    headers = {"content-type": "application/json", "user-agent": "GitHub-Hookshot/abc",
               "x-github-event": event, "x-github-delivery": delivery or str(uuid.uuid4()),
               "x-github-hook-id": "1"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    elif secret is not None:
        headers["x-hub-signature-256"] = sig(body, secret)
    return {"version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "", "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": base64.b64encode(body).decode() if b64 else body.decode(), "isBase64Encoded": b64}


def sns(payload, message_id=None):
    return {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:github", "Message": json.dumps(payload)}


def sns_lambda(*payloads):
    return {"Records": [{"EventSource": "aws:sns", "Sns": {**sns(p), "Type": "Notification"}} for p in payloads]}


def ndjson(*docs) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)
