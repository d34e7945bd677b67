"""The decision for one auth_request: token -> service (cache or verification) -> path check.
Pure apart from the injected clock; the server only moves bytes."""
from __future__ import annotations

import time
from collections import OrderedDict

from deteco import tokens
from deteco.uri import BadURI, normalise


class Cache:
    """Raw token -> (service id, exp, iat, nbf). A hit is only good while the token would still
    verify: before exp, iat within the freshness window, after nbf. Full: the prune_size oldest
    entries go (upstream's knobs). size 0: no cache."""

    def __init__(self, size: int, prune: int):
        self.size, self.prune = size, max(1, prune)
        self.d: OrderedDict = OrderedDict()

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

    def clear(self) -> None:
        self.d.clear()


class Decision:
    __slots__ = ("status", "service", "path", "reason", "cached")

    def __init__(self, status, service=None, path=None, reason=None, cached=False):
        self.status, self.service, self.path, self.reason, self.cached = status, service, path, reason, cached


def decide(authorization: str | None, original_uri: str | None, services: dict, cache: Cache,
           freshness: float, now: float | None = None) -> Decision:
    import jwt
    now = time.time() if now is None else now
    tok = (authorization or "").strip()
    if tok[:7].lower() == "bearer ":
        tok = tok[7:].strip()
    if not tok:
        return Decision(401, reason="no token")
    sid = cache.get(tok, now, freshness)
    cached = sid is not None and sid in services
    if not cached:
        if len(tok) > tokens.MAX_TOKEN:
            return Decision(401, reason="token too long")
        try:
            sub = jwt.decode(tok, options={"verify_signature": False}).get("sub")
        except jwt.PyJWTError:
            return Decision(401, reason="malformed token")
        svc = services.get(sub) if isinstance(sub, str) else None
        if svc is None:
            return Decision(401, reason="unknown sub")
        try:
            claims = tokens.verify(tok, svc.keys, freshness=freshness, now=now, audience=svc.audience,
                                   issuer=svc.issuer)
        except tokens.TokenError as e:
            return Decision(401, service=svc.id, reason=str(e))
        cache.put(tok, svc.id, claims)
        sid = svc.id
    svc = services[sid]
    try:
        path = normalise(original_uri or "")
    except BadURI as e:
        return Decision(403, service=sid, path=original_uri, reason=f"bad URI: {e}", cached=cached)
    if not any(path.startswith(p) for p in svc.paths):
        return Decision(403, service=sid, path=path, reason="path not allowed", cached=cached)
    return Decision(200, service=sid, path=path, cached=cached)
