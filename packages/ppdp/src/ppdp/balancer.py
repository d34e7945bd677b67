"""Upstream selection as kazeburo/ppdp does it: the upstream name is resolved again every refresh
interval; the addresses (sorted by text, descending) are balanced by least connections (random tie
break), or picked on a consistent hash ring keyed by the client address (iphash), the client
address and port (remotehash) or the upstream name (fixed). An address with max-fails failed dials
is skipped until the next refresh. IPv6 addresses are handled as addresses, never split on ':'."""
from __future__ import annotations

import bisect
import random
import socket
import zlib

BALANCING = ("leastconn", "iphash", "remotehash", "fixed")


class Ring:
    """A consistent hash ring with `replicas` points per member (CRC-32 of "member#i")."""

    def __init__(self, members: list[str], replicas: int = 20):
        pts = sorted((zlib.crc32(f"{m}#{i}".encode()), m) for m in members for i in range(replicas))
        self._keys = [k for k, _ in pts]
        self._members = [m for _, m in pts]
        self.size = len(set(members))

    def get_n(self, key: str, n: int) -> list[str]:
        """Up to n distinct members clockwise from the hash of key."""
        if not self._keys:
            return []
        i = bisect.bisect_left(self._keys, zlib.crc32(key.encode()))
        out: list[str] = []
        for j in range(len(self._keys)):
            m = self._members[(i + j) % len(self._keys)]
            if m not in out:
                out.append(m)
                if len(out) >= min(n, self.size):
                    break
        return out


class Upstream:
    def __init__(self, host: str, port: int, balancing: str = "leastconn", max_connect_retry: int = 3,
                 max_fails: int = 1, rng: random.Random | None = None):
        self.host, self.port = host, port
        self.balancing = balancing
        self.max_connect_retry = max(1, max_connect_retry)
        self.max_fails = max_fails
        self.addrs: list[str] = []
        self.busy: dict[str, int] = {}
        self.fails: dict[str, int] = {}
        self.ring = Ring([])
        self.rng = rng or random.Random()

    def set_addresses(self, addrs: list[str]) -> None:
        """A new resolution: the address list, the ring, and the failure counts start over."""
        self.addrs = sorted(set(addrs), reverse=True)
        self.ring = Ring(self.addrs)
        self.fails = {}
        self.busy = {a: self.busy.get(a, 0) for a in self.addrs}

    async def refresh(self, loop) -> list[str]:
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        addrs = [sa[0] for fam, _, _, _, sa in infos if fam in (socket.AF_INET, socket.AF_INET6)]
        if not addrs:
            raise OSError(f"no address for {self.host}")
        self.set_addresses(addrs)
        return self.addrs

    def candidates(self, remote: tuple | None) -> list[str]:
        """Addresses to dial in order (at most max_connect_retry)."""
        n = self.max_connect_retry
        if self.balancing == "leastconn":
            order = sorted(self.addrs, key=lambda a: (self.busy.get(a, 0), self.rng.random()))
        else:
            if self.balancing == "iphash":
                key = remote[0] if remote else ""
            elif self.balancing == "remotehash":
                key = f"{remote[0]}:{remote[1]}" if remote else ""
            else:
                key = self.host
            order = self.ring.get_n(key, len(self.addrs))
        usable = [a for a in order if self.fails.get(a, 0) < self.max_fails] if self.max_fails > 0 else order
        return (usable or order)[:n]

    def acquire(self, addr: str) -> None:
        self.busy[addr] = self.busy.get(addr, 0) + 1

    def release(self, addr: str) -> None:
        self.busy[addr] = max(0, self.busy.get(addr, 0) - 1)

    def failed(self, addr: str) -> None:
        self.fails[addr] = self.fails.get(addr, 0) + 1
