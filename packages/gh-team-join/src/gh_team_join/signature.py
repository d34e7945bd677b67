"""X-Hub-Signature-256: `sha256=` and the hex HMAC-SHA256 of the raw body with the webhook secret
(GitHub's "Validating webhook deliveries"), compared in constant time."""
from __future__ import annotations

import hashlib
import hmac


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode("utf-8", "replace"))


def check(delivery, secret: bytes | None, require: bool) -> str | None:
    """None when the delivery may be processed, else why it is refused.

    A delivery that carries headers (an HTTP event) needs a valid X-Hub-Signature-256 when a
    secret is configured. Input without headers (a raw payload, SNS) cannot be signed: it is
    accepted unless `require` (--require-signature) is set; `require` also refuses an HTTP event
    without the header."""
    if delivery.headers is None:
        return "unsigned input (--require-signature)" if require else None
    header = delivery.headers.get("x-hub-signature-256")
    if secret is None:
        return "no webhook secret to check the signature (--require-signature)" if require else None
    if not header:
        return "no X-Hub-Signature-256 header"
    if not verify(secret, delivery.body or b"", header):
        return "bad X-Hub-Signature-256"
    return None
