"""The decision for one auth_request: token -> service (cache or verification) -> path check.
Pure apart from the injected clock; the server only moves bytes.

The cache-hit path is one dict lookup: Cache.memo maps (Authorization value, X-Original-URI) to
the decision already taken for that pair (a 200 or a path 403 of a valid token), kept with the
token's exp, iat and nbf and checked against them exactly as a token cache hit is."""
from __future__ import annotations

import binascii
import json
import time
from base64 import urlsafe_b64decode
from collections import OrderedDict

from deteco import tokens
from deteco.uri import BadURI, normalise


class Cache:
    """Raw token -> (service id, exp, iat, nbf). A hit is only good while the token would still
    verify: before exp, iat within the freshness window, after nbf. Full: the prune_size oldest
    entries go (upstream's knobs). size 0: no cache."""

    MEMO_URI_MAX = 2048     # longer X-Original-URIs are decided each time, not memoised

    def __init__(self, size: int, prune: int):
        self.size, self.prune = size, max(1, prune)
        self.d: OrderedDict = OrderedDict()
        # (Authorization, X-Original-URI) -> (Decision, services, exp, iat, nbf); at most 4 x size
        # entries (emptied when full), none when the cache is disabled
        self.memo: dict = {}
        self.memo_max = 4 * size

    def get(self, token: str, now: float, freshness: float):
        e = self.d.get(token)
        if e is None:
            return None
        sid, exp, iat, nbf = e
        if now >= exp or now - iat > freshness or (nbf is not None and now < nbf):
            del self.d[token]
            return None
        return sid

    def put(self, token: str, sid: str, claims: dict) -> None:
        if self.size <= 0:
            return
        if len(self.d) >= self.size:
            for _ in range(min(self.prune, len(self.d))):
                self.d.popitem(last=False)
        self.d[token] = (sid, claims["exp"], claims["iat"], claims.get("nbf"))

    def remember(self, authorization: str, uri: str, d: "Decision", services: dict, token: str) -> None:
        e = self.d.get(token)
        if e is None or self.memo_max <= 0 or len(uri) > self.MEMO_URI_MAX:
            return
        if len(self.memo) >= self.memo_max:
            self.memo.clear()
        self.memo[(authorization, uri)] = (Decision(d.status, d.service, d.path, d.reason, True), services) + e[1:]

    def clear(self) -> None:
        self.d.clear()
        self.memo.clear()


class Decision:
    __slots__ = ("status", "service", "path", "reason", "cached")

    def __init__(self, status, service=None, path=None, reason=None, cached=False):
        self.status, self.service, self.path, self.reason, self.cached = status, service, path, reason, cached


def decide(authorization: str | None, original_uri: str | None, services: dict, cache: Cache,
           freshness: float, now: float | None = None) -> Decision:
    now = time.time() if now is None else now
    key = (authorization, original_uri)
    hit = cache.memo.get(key)
    if hit is not None:
        d, svcs, exp, iat, nbf = hit
        if svcs is services and now < exp and now - iat <= freshness and (nbf is None or now >= nbf):
            return d
        del cache.memo[key]
    d, tok = _decide(authorization, original_uri, services, cache, freshness, now)
    if d.status != 401 and authorization is not None and original_uri is not None:
        cache.remember(authorization, original_uri, d, services, tok)
    return d


def unverified_sub(tok: str):
    """The `sub` of a compact JWS before any check, only to pick the service whose keys verify
    it (tokens.verify then parses it strictly); ValueError when the payload is not a JSON object.
    A direct decode: PyJWT's would be a third full parse of the token per verification."""
    parts = tok.split(".")
    if len(parts) != 3:
        raise ValueError("not three segments")
    seg = parts[1]
    try:
        claims = json.loads(urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise ValueError("payload is not an object")
    return claims.get("sub")


def _decide(authorization, original_uri, services, cache, freshness, now) -> tuple[Decision, str]:
    tok = (authorization or "").strip()
    if tok[:7].lower() == "bearer ":
        tok = tok[7:].strip()
    if not tok:
        return Decision(401, reason="no token"), tok
    sid = cache.get(tok, now, freshness)
    cached = sid is not None and sid in services
    if not cached:
        if len(tok) > tokens.MAX_TOKEN:
            return Decision(401, reason="token too long"), tok
        try:
            sub = unverified_sub(tok)
        except ValueError:
            return Decision(401, reason="malformed token"), tok
        svc = services.get(sub) if isinstance(sub, str) else None
        if svc is None:
            return Decision(401, reason="unknown sub"), tok
        try:
            claims = tokens.verify(tok, svc.keys, freshness=freshness, now=now, audience=svc.audience,
                                   issuer=svc.issuer)
        except tokens.TokenError as e:
            return Decision(401, service=svc.id, reason=str(e)), tok
        cache.put(tok, svc.id, claims)
        sid = svc.id
    svc = services[sid]
    try:
        path = normalise(original_uri or "")
    except BadURI as e:
        return Decision(403, service=sid, path=original_uri, reason=f"bad URI: {e}", cached=cached), tok
    if not any(path.startswith(p) for p in svc.paths):
        return Decision(403, service=sid, path=path, reason="path not allowed", cached=cached), tok
    return Decision(200, service=sid, path=path, cached=cached), tok
