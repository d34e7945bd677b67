"""Which containers get which connections, as pure functions over Docker API shapes.

containers: items of GET /containers/json ({"Id", "Created", "Ports": [{"PrivatePort",
"PublicPort", "Type", "IP"}], ...}); health: container id -> State.Health.Status from
GET /containers/{id}/json, None when the image has no HEALTHCHECK.
"""
from __future__ import annotations


def newest_first(containers: list[dict]) -> list[dict]:
    """Created descending, then Id (as upstream)."""
    return sorted(containers, key=lambda c: (-int(c.get("Created", 0)), c.get("Id", "")))


def listen_ports(containers: list[dict]) -> list[int]:
    """The TCP private ports of the newest container (the ports motarei listens on)."""
    cs = newest_first(containers)
    if not cs:
        return []
    return sorted({p["PrivatePort"] for p in cs[0].get("Ports") or []
                   if p.get("Type", "tcp") == "tcp" and p.get("PrivatePort")})


def usable(cid: str, health: dict, require_healthy: bool, draining: set) -> bool:
    if cid in draining:
        return False
    if require_healthy:
        return health.get(cid) in (None, "healthy")
    return True


def backends(containers: list[dict], health: dict | None = None, require_healthy: bool = False,
             draining: set | frozenset = frozenset()) -> dict[int, list[tuple[str, int]]]:
    """private port -> [(container id, public port)], newest container first; each public port
    once (Docker lists a port published on IPv4 and IPv6 twice); containers that are draining, or
    not healthy when require_healthy and they have a HEALTHCHECK, are left out."""
    health = health or {}
    out: dict[int, list[tuple[str, int]]] = {}
    for c in newest_first(containers):
        cid = c.get("Id", "")
        if not usable(cid, health, require_healthy, draining):
            continue
        for p in c.get("Ports") or []:
            if p.get("Type", "tcp") != "tcp" or not p.get("PublicPort") or not p.get("PrivatePort"):
                continue
            entry = (cid, int(p["PublicPort"]))
            lst = out.setdefault(int(p["PrivatePort"]), [])
            if entry not in lst:
                lst.append(entry)
    return out
