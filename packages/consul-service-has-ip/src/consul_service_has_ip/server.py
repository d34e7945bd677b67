"""The consul-service-has-ip daemon: a small HTTP/1.1 server on asyncio (keep-alive, HEAD, read
and write timeouts) answering GET /has/{service}/{ip} and GET /live; graceful stop.

serve(cfg, log) runs one loop until SIGTERM or SIGINT: both stop accepting at once, let requests
in progress finish for up to cfg.shutdown_timeout, then close and return 0. SIGHUP reopens the
access log file."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from dataclasses import dataclass, field

from consul_service_has_ip.accesslog import AccessLog
from consul_service_has_ip.consul import ConsulError, Endpoint, parse_ip
from consul_service_has_ip.lifecycle import signal_handlers
from consul_service_has_ip.listeners import format_addr
from consul_service_has_ip.logs import Logger
from consul_service_has_ip.watch import Watcher

MAX_HEAD = 16384
JSON = b"application/json"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}
OK_BODY = b'{"error":0}'


@dataclass
class Config:
    listeners: list
    endpoint: str
    token: str | None = None
    read_timeout: float = 30.0
    write_timeout: float = 90.0
    shutdown_timeout: float = 10.0
    timeout: float = 30.0
    max_stale: float = 30.0
    watch: bool = True
    wait: float = 60.0
    access_log: str = ""
    access_log_rotate: int = 30
    extra: dict = field(default_factory=dict)


def body_of(code: int, message: str | None = None) -> bytes:
    if code == 200:
        return OK_BODY
    return json.dumps({"error": 1, "messages": message or REASONS.get(code, "")},
                      separators=(",", ":")).encode()


class Checker:
    def __init__(self, cfg: Config, log: Logger):
        self.ep = Endpoint(cfg.endpoint, cfg.token)
        self.cfg = cfg
        self.watcher = Watcher(self.ep, cfg.timeout, cfg.max_stale, wait=cfg.wait, log=log) if cfg.watch else None

    def cached(self, service: str, ip_text: str) -> tuple[int, bytes] | None:
        """The answer from a fresh watch, at once; None: has() must run."""
        if self.watcher is None:
            return None
        ip = parse_ip(ip_text)
        if ip is None:
            return None
        hit = self.watcher.cached(service, ip)
        if hit is None:
            return None
        if hit:
            return 200, OK_BODY
        return 404, body_of(404, f"ip:{ip_text} is not in service:{service}")

    async def has(self, service: str, ip_text: str) -> tuple[int, bytes]:
        ip = parse_ip(ip_text)
        if ip is None:
            return 400, body_of(400, f"ip:{ip_text} is not an IP address")
        try:
            if self.watcher is not None:
                addrs = await self.watcher.lookup(service)
            else:
                from consul_service_has_ip.consul import addresses
                data, _ = await self.ep.health(service, self.cfg.timeout)
                addrs = addresses(data)
        except ConsulError as e:
            return 500, body_of(500, str(e))
        if ip in addrs:
            return 200, OK_BODY
        return 404, body_of(404, f"ip:{ip_text} is not in service:{service}")


class HTTP(asyncio.Protocol):
    """One connection: requests one at a time (pipelined ones wait their turn)."""

    def __init__(self, srv: "Server"):
        self.srv = srv
        self.buf = b""
        self.transport = None
        self.peer = ""
        self.busy = False
        self.closing = False
        self.timer = None
        self.write_timer = None

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        self.peer = _host_of(transport.get_extra_info("peername"))
        self.srv.conns.add(self)
        self._arm()

    def connection_lost(self, exc):
        self.srv.conns.discard(self)
        self._disarm()
        if self.write_timer:
            self.write_timer.cancel()

    def pause_writing(self):
        self.write_timer = self.srv.loop.call_later(self.srv.cfg.write_timeout, self.transport.abort)

    def resume_writing(self):
        if self.write_timer:
            self.write_timer.cancel()
            self.write_timer = None

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self._next()

    def eof_received(self):
        if not self.busy:
            self.transport.close()
        return True

    # -- requests ----------------------------------------------------------------------------
    def _arm(self):
        self._disarm()
        if self.srv.cfg.read_timeout > 0:
            self.timer = self.srv.loop.call_later(self.srv.cfg.read_timeout, self._read_timeout)

    def _disarm(self):
        if self.timer:
            self.timer.cancel()
            self.timer = None

    def _read_timeout(self):
        self.timer = None
        if not self.busy and self.transport and not self.transport.is_closing():
            if self.buf:
                self._reply(0.0, "-", "-", "-", "", "", 408, body_of(408), keep=False)
            else:
                self.transport.close()

    def _next(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self._reply(time.monotonic(), "-", "-", "-", "", "", 431, body_of(431), keep=False)
            return
        head, self.buf = self.buf[:end], self.buf[end + 4:]
        t0 = time.monotonic()
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return self._reply(t0, "-", lines[0][:200].decode("latin-1"), "-", "", "", 400, body_of(400), keep=False)
        method, target, version = (p.decode("latin-1") for p in parts)
        hdrs = {}
        for ln in lines[1:]:
            k, sep, v = ln.partition(b":")
            if sep:
                hdrs[k.strip().lower()] = v.strip().decode("latin-1")
        conn = hdrs.get(b"connection", "").lower()
        keep = (version == "HTTP/1.1" and conn != "close") or (version == "HTTP/1.0" and conn == "keep-alive")
        if b"content-length" in hdrs or b"transfer-encoding" in hdrs:
            keep = False               # no request body is expected: do not try to find the next request
        self.busy = True
        self._disarm()
        ua, host, chocon = hdrs.get(b"user-agent", ""), hdrs.get(b"host", ""), hdrs.get(b"x-chocon-req", "")
        if method not in ("GET", "HEAD"):
            return self._reply(t0, method, target, version, ua, host, 405, body_of(405), keep, chocon,
                               extra=b"Allow: GET, HEAD\r\n")
        path = target.split("?", 1)[0]
        if path == "/live":
            return self._reply(t0, method, target, version, ua, host, 200, OK_BODY, keep, chocon)
        if path.startswith("/has/"):
            seg = path[5:].split("/")
            if len(seg) == 2 and seg[0] and seg[1]:
                service, ip = urllib.parse.unquote(seg[0]), urllib.parse.unquote(seg[1])
                fast = self.srv.checker.cached(service, ip)
                if fast is not None:
                    return self._reply(t0, method, target, version, ua, host, *fast, keep, chocon)
                task = asyncio.ensure_future(self.srv.checker.has(service, ip))
                self.srv.inflight.add(task)
                task.add_done_callback(lambda t: self._checked(t, t0, method, target, version, ua, host, keep, chocon))
                return
        return self._reply(t0, method, target, version, ua, host, 404, body_of(404, "not found"), keep, chocon)

    def _checked(self, task, t0, method, target, version, ua, host, keep, chocon):
        self.srv.inflight.discard(task)
        if self.transport.is_closing():
            return
        if task.cancelled():
            code, body = 503, body_of(503, "shutting down")
        elif task.exception() is not None:
            code, body = 500, body_of(500, "internal error")
            self.srv.log.error("check failed", error=repr(task.exception()))
        else:
            code, body = task.result()
        self._reply(t0, method, target, version, ua, host, code, body, keep, chocon)

    def _reply(self, t0, method, target, version, ua, host, code, body, keep, chocon="", extra=b""):
        if self.srv.stopping:
            keep = False
        head = (f"HTTP/1.1 {code} {REASONS.get(code, '')}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
                + extra + (b"Connection: close\r\n" if not keep else
                           b"Connection: keep-alive\r\n" if version == "HTTP/1.0" else b"") + b"\r\n")
        self.transport.write(head if method == "HEAD" else head + body)
        size = 0 if method == "HEAD" else len(body)
        self.srv.access.write(self.peer, method, target, code, size, ua, time.monotonic() - t0, host, chocon)
        self.busy = False
        if not keep:
            self.transport.close()
            return
        self._arm()
        if self.buf:
            self._next()


def _host_of(peer) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return ""


class Server:
    def __init__(self, cfg: Config, log: Logger):
        self.cfg = cfg
        self.log = log
        self.access = AccessLog(cfg.access_log, cfg.access_log_rotate)
        self.checker = Checker(cfg, log)
        self.conns: set[HTTP] = set()
        self.inflight: set[asyncio.Task] = set()
        self.stopping = False
        self.loop = None

    async def run(self) -> int:
        self.loop = loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        with signal_handlers(loop, stop.set, self.access.reopen):
            servers = []
            for s in self.cfg.listeners:
                servers.append(await loop.create_server(lambda: HTTP(self), sock=s, backlog=1024))
                self.log.info("listening", listener=format_addr(s.getsockname()), consul=self.cfg.endpoint,
                              watch=self.cfg.watch)
            await stop.wait()
            self.stopping = True
            for srv in servers:
                srv.close()
            self.log.info("shutting down", connections=len(self.conns), requests=len(self.inflight),
                          **{"shutdown-timeout": self.cfg.shutdown_timeout})
            # idle keep-alive connections go now; requests in progress get their answer
            for c in list(self.conns):
                if not c.busy and c.transport is not None:
                    c.transport.close()
            deadline = loop.time() + self.cfg.shutdown_timeout
            while any(c.busy for c in self.conns) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            for t in list(self.inflight):
                t.cancel()
            await asyncio.sleep(0)
            for c in list(self.conns):
                if c.transport is not None:
                    c.transport.abort()
            if self.checker.watcher is not None:
                await self.checker.watcher.close()
            self.access.close()
            return 0

def serve(cfg: Config, log: Logger | None = None) -> int:
    return asyncio.run(Server(cfg, log or Logger()).run())
