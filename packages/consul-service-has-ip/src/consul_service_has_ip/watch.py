"""Local watches of services: one background blocking-query loop per service asked about, so a
check is a set lookup, not a Consul round trip.

A watch answers while it is in sync (its last query succeeded), and for up to max_stale seconds
after Consul stopped answering; past that, or before its first answer, the check queries Consul
directly (upstream's behaviour) and that query's error is the check's error. Watches unused for
idle seconds stop; at most max_watches run (beyond, checks query directly)."""
from __future__ import annotations

import asyncio
import time

from consul_service_has_ip.consul import ConsulError, Endpoint, addresses


class Watch:
    def __init__(self, service: str):
        self.service = service
        self.addrs: frozenset | None = None
        self.index = 0
        self.ok_at = 0.0            # monotonic time of the last successful answer
        self.failing = False
        self.used_at = time.monotonic()
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None


class Watcher:
    def __init__(self, endpoint: Endpoint, timeout: float, max_stale: float, wait: float = 60.0,
                 idle: float = 600.0, max_watches: int = 1024, log=None, retry: float = 1.0):
        self.ep = endpoint
        self.timeout = timeout
        self.max_stale = max_stale
        self.wait = wait
        self.idle = idle
        self.max_watches = max_watches
        self.log = log
        self.retry = retry
        self.watches: dict[str, Watch] = {}

    def cached(self, service: str, ip):
        """True/False from a fresh watch without a coroutine (the hot path), None when the
        watch cannot answer now."""
        w = self.watches.get(service)
        if w is None or w.addrs is None:
            return None
        now = time.monotonic()
        if w.failing and now - w.ok_at > self.max_stale:
            return None
        w.used_at = now
        return ip in w.addrs

    async def lookup(self, service: str) -> frozenset:
        """The service's addresses, from the watch when it is fresh, else from Consul directly.
        Raises ConsulError."""
        w = self.watches.get(service)
        now = time.monotonic()
        if w is None and len(self.watches) < self.max_watches:
            w = self.watches[service] = Watch(service)
            w.task = asyncio.ensure_future(self._run(w))
        if w is not None:
            w.used_at = now
            if w.addrs is not None and (not w.failing or now - w.ok_at <= self.max_stale):
                return w.addrs
            if not w.ready.is_set() and not w.failing:
                # the watch's first answer is on its way: wait for it rather than ask twice
                try:
                    async with asyncio.timeout(self.timeout):
                        await w.ready.wait()
                except TimeoutError:
                    raise ConsulError(f"Consul did not answer within {self.timeout:g}s") from None
                if w.addrs is not None and not w.failing:
                    return w.addrs
        data, _ = await self.ep.health(service, self.timeout)
        return addresses(data)

    async def _run(self, w: Watch) -> None:
        delay = self.retry
        try:
            while True:
                if time.monotonic() - w.used_at > self.idle:
                    return
                try:
                    data, idx = await self.ep.health(w.service, self.timeout, index=w.index, wait=self.wait)
                    addrs = addresses(data)
                except ConsulError as e:
                    if not w.failing and self.log:
                        self.log.warn("watch failed", service=w.service, error=str(e))
                    w.failing = True
                    w.ready.set()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                if w.failing and self.log:
                    self.log.info("watch in sync again", service=w.service)
                w.addrs, w.ok_at, w.failing = addrs, time.monotonic(), False
                w.ready.set()
                delay = self.retry
                # Consul's rule: an index that goes backwards (or 0) resets the watch
                w.index = idx if idx > 0 and idx >= w.index else 0
                if w.index == 0:
                    await asyncio.sleep(self.retry)
        finally:
            self.watches.pop(w.service, None)

    async def close(self) -> None:
        tasks = [w.task for w in self.watches.values() if w.task]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
