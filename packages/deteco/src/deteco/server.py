"""The deteco daemon: a small HTTP/1.1 server (keep-alive, bounded header size, timeouts) for
nginx's auth_request. `/` and `/live` answer OK; `/<auth-endpoint>` answers 200 with
X-Deteco-User, 401 or 403 (auth.decide). SIGTERM/SIGINT: stop accepting, let requests in flight
finish (up to --shutdown-timeout), exit 0. SIGHUP reloads the configuration (a bad one is logged
and the old one kept) and empties the cache."""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from dataclasses import dataclass

from deteco import auth, config
from deteco.listeners import format_addr
from deteco.logs import Logger

MAX_HEADER = 16 * 1024
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 431: "Request Header Fields Too Large"}


@dataclass
class Config:
    listeners: list
    conf_path: str
    freshness: float = 3600.0
    endpoint: str = "auth"
    cache_size: int = 1000
    prune_size: int = 100
    shutdown_timeout: float = 10.0
    idle_timeout: float = 60.0
    clock: object = time.time


def _response(status: int, body: bytes, keep: bool, extra: str = "", http10: bool = False) -> bytes:
    conn = "Connection: keep-alive\r\n" if keep and http10 else ("" if keep else "Connection: close\r\n")
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n{extra}{conn}\r\n").encode("latin-1") + body


class Server:
    def __init__(self, cfg: Config, services: dict, log: Logger):
        self.cfg = cfg
        self.services = services
        self.log = log
        self.cache = auth.Cache(cfg.cache_size, cfg.prune_size)
        self.seq = itertools.count(1)
        self.prefix = f"{os.getpid():x}-{int(time.time()):x}"
        self.busy: set = set()
        self.conns: set = set()
        self.endpoint = "/" + cfg.endpoint.strip("/")

    def reload(self) -> None:
        try:
            new = config.load(self.cfg.conf_path)
        except config.ConfigError as e:
            self.log.error("reload failed, keeping the old configuration", error=str(e))
            return
        self.services = new
        self.cache.clear()
        self.log.info("reloaded", services=len(new))

    def answer(self, method: str, target: str, headers: dict, peer: str) -> tuple[int, bytes, str]:
        path = target.split("?", 1)[0]
        if path in ("/", "/live"):
            return 200, b"OK\n", ""
        if path != self.endpoint:
            return 404, b"Not Found\n", ""
        t0 = time.monotonic()
        d = auth.decide(headers.get("authorization"), headers.get("x-original-uri"), self.services, self.cache,
                        self.cfg.freshness, self.cfg.clock())
        rid = f"{self.prefix}-{next(self.seq)}"
        took = round(time.monotonic() - t0, 6)
        if d.status == 200:
            self.log.info("Authorized", service=d.service, path=d.path, **{"req-id": rid, "remote-addr": peer,
                          "cache": d.cached, "duration": took})
            return 200, b"OK\n", f"X-Deteco-User: {d.service}\r\n"
        self.log.warn("Unauthorized" if d.status == 401 else "Forbidden", service=d.service, path=d.path,
                      reason=d.reason, **{"req-id": rid, "remote-addr": peer, "cache": d.cached,
                                          "status": d.status, "duration": took})
        return d.status, (b"Unauthorized\n" if d.status == 401 else b"Forbidden\n"), ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.conns.add(task)
        peer = format_addr(writer.get_extra_info("peername"))
        try:
            while True:
                try:
                    async with asyncio.timeout(self.cfg.idle_timeout):
                        head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    writer.write(_response(431, b"Request Header Fields Too Large\n", False))
                    self.log.warn("request header too large", **{"remote-addr": peer})
                    return
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                self.busy.add(task)
                try:
                    lines = head.decode("latin-1").split("\r\n")
                    parts = lines[0].split(" ")
                    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                        writer.write(_response(400, b"Bad Request\n", False))
                        return
                    method, target, version = parts
                    headers = {}
                    for line in lines[1:]:
                        if not line:
                            continue
                        k, sep, v = line.partition(":")
                        if not sep or not k or k != k.strip():
                            writer.write(_response(400, b"Bad Request\n", False))
                            return
                        headers[k.lower()] = v.strip()
                    conn = headers.get("connection", "").lower()
                    keep = (version == "HTTP/1.1" and conn != "close") or conn == "keep-alive"
                    n = headers.get("content-length")
                    if n is not None:
                        if not n.isdigit() or int(n) > 1 << 20:
                            writer.write(_response(400, b"Bad Request\n", False))
                            return
                        await reader.readexactly(int(n))
                    elif "transfer-encoding" in headers:
                        writer.write(_response(400, b"Bad Request\n", False))
                        return
                    status, body, extra = self.answer(method, target, headers, peer)
                    body_out = _response(status, body, keep, extra, version == "HTTP/1.0")
                    if method == "HEAD":
                        body_out = body_out[:-len(body)]
                    writer.write(body_out)
                    await writer.drain()
                finally:
                    self.busy.discard(task)
                if not keep or self.stopping.is_set():
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.conns.discard(task)
            writer.close()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        prev = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        servers = []
        try:
            for s in self.cfg.listeners:
                servers.append(await asyncio.start_server(self.handle, sock=s, limit=MAX_HEADER))
                self.log.info("listening", listener=format_addr(s.getsockname()), services=len(self.services),
                              endpoint=self.endpoint)
            await self.stopping.wait()
            for srv in servers:
                srv.close()
            # idle keep-alive connections go at once; requests in flight may finish
            for t in list(self.conns):
                if t not in self.busy:
                    t.cancel()
            busy = [t for t in self.busy if not t.done()]
            self.log.info("shutting down", requests=len(busy), **{"shutdown-timeout": self.cfg.shutdown_timeout})
            if busy:
                _, pending = await asyncio.wait(busy, timeout=self.cfg.shutdown_timeout)
                for t in pending:
                    t.cancel()
            rest = [t for t in self.conns if not t.done()]
            for t in rest:
                t.cancel()
            if rest:
                await asyncio.wait(rest, timeout=5)
            return 0
        finally:
            for sig, handler in prev.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def serve(cfg: Config, services: dict, log: Logger | None = None) -> int:
    return asyncio.run(Server(cfg, services, log or Logger()).run())
