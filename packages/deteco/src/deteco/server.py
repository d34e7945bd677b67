"""The deteco daemon: a small HTTP/1.1 server for nginx's auth_request, an asyncio.Protocol (no
streams, no task per connection): keep-alive, pipelined requests answered in order, exact framing
(Content-Length bodies read and dropped, Transfer-Encoding refused), a 16 KiB header limit (431),
400 on a malformed request, and a connection closed when no complete request arrived within
--idle-timeout (60s) of the connect or the previous answer. `/` and `/live` answer OK;
`/<auth-endpoint>` answers 200 with X-Deteco-User, 401 or 403 (auth.decide), with upstream's text
bodies, or empty ones with --empty-auth-body so that nginx keeps the connection. SIGTERM/SIGINT: stop
accepting, close idle connections, let requests being received finish (up to --shutdown-timeout),
exit 0. SIGHUP reloads the configuration (a bad one is logged and the old one kept) and empties the
cache. The request log lines are formatted from pieces prepared once and written together at
most 10 ms later (the daemon template's Logger.fragment, Logger.prepared and Batch)."""
from __future__ import annotations

import asyncio
import functools
import os
import time
from dataclasses import dataclass

from deteco import auth, config
from deteco.lifecycle import signal_handlers
from deteco.listeners import format_addr
from deteco.logs import Batch, Logger

MAX_HEADER = 16 * 1024
MAX_BODY = 1 << 20
HEAD_MEMO_MAX, HEAD_MEMO_BYTES = 1024, 4096     # parsed requests kept by their bytes
READ_SIZE = 64 * 1024
FLUSH_DELAY = 0.01      # request log lines are written at most this long after they were made
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 431: "Request Header Fields Too Large", 500: "Internal Server Error"}
BODIES = {200: b"OK\n", 401: b"Unauthorized\n", 403: b"Forbidden\n", 404: b"Not Found\n", 400: b"Bad Request\n",
          431: b"Request Header Fields Too Large\n", 500: b"Internal Server Error\n"}


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
    empty_auth_body: bool = False
    clock: object = time.time


@functools.lru_cache(maxsize=4096)
def _response(status: int, body: bytes, keep: bool, extra: str = "", http10: bool = False) -> bytes:
    conn = "Connection: keep-alive\r\n" if keep and http10 else ("" if keep else "Connection: close\r\n")
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n{extra}{conn}\r\n").encode("latin-1") + body


class BadRequest(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def parse_head(head: bytes) -> tuple[str, str, str, dict]:
    """One request head (without the blank line) -> method, target, version, headers (lower-case
    names, the last of repeated ones). BadRequest(400) when it is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[0] or not parts[1]:
        raise BadRequest(400, "malformed request line")
    headers = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if not sep or not k or k[-1] in " \t" or k[0] in " \t":
            raise BadRequest(400, "malformed header line")
        headers[k.lower()] = v.strip(" \t")
    return parts[0], parts[1], parts[2], headers


def body_length(headers: dict) -> int:
    """The bytes of body that follow the head: Content-Length, else none. Transfer-Encoding (a
    chunked body, which auth_request never sends) and a bad or huge Content-Length are refused."""
    if "transfer-encoding" in headers:
        raise BadRequest(400, "Transfer-Encoding not supported")
    n = headers.get("content-length")
    if n is None:
        return 0
    if not n.isdigit() or not n.isascii() or int(n) > MAX_BODY:
        raise BadRequest(400, "bad Content-Length")
    return int(n)


def keep_alive(version: str, headers: dict) -> bool:
    conn = headers.get("connection")
    if conn is None:
        return version == "HTTP/1.1"
    tokens = {t.strip() for t in conn.lower().split(",")}
    if "close" in tokens:
        return False
    return version == "HTTP/1.1" or "keep-alive" in tokens


class RequestLog(Batch):
    """The request log: a Batch (lines written together, FLUSH_DELAY after the first of them) that
    makes the `Authorized` line of a cache hit from fragments prepared once per decision
    (Logger.fragment) and per connection (remote-addr)."""

    def __init__(self, log: Logger):
        super().__init__(log, FLUSH_DELAY)
        self.frags: dict = {}
        self.cached = {c: log.fragment("cache", c) for c in (True, False)}

    def authorized(self, d: auth.Decision, rid: str, peer_field: str, took: float, ts: float) -> bytes:
        """The `Authorized` line of decision d: service, path, req-id, remote-addr (peer_field:
        log.fragment('remote-addr', peer)), cache, duration."""
        log = self.log
        frag = self.frags.get(d)            # by identity: the decisions of the cache are reused
        if frag is None:
            if len(self.frags) > 4096:
                self.frags.clear()
            frag = self.frags[d] = log.fragment("service", d.service) + log.fragment("path", d.path)
        return log.prepared("info", "Authorized", ts, f"{frag}{log.fragment('req-id', rid)}{peer_field}"
                                                      f"{self.cached[d.cached]}{log.fragment('duration', took)}")


class Connection(asyncio.BufferedProtocol):
    """One client connection. Requests are decided synchronously as their bytes arrive; the
    answers to the requests of one read go out in one write, in order. A BufferedProtocol: the
    event loop reads into the server's one 64 KiB buffer (asyncio's own recv allocates 256 KiB per
    read, which glibc serves with mmap/munmap: about 12 us per read, half of deteco's time)."""
    __slots__ = ("srv", "transport", "buf", "peer", "peer_field", "last", "closing")

    def __init__(self, srv: "Server"):
        self.srv = srv
        self.transport = None
        self.buf = b""
        self.closing = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.peer = format_addr(transport.get_extra_info("peername"))
        self.peer_field = self.srv.log.fragment("remote-addr", self.peer)
        self.last = time.monotonic()
        self.srv.conns.add(self)

    def connection_lost(self, exc) -> None:
        self.closing = True
        self.srv.conns.discard(self)
        if self.srv.stopping.is_set() and not self.srv.conns:
            self.srv.drained.set()

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.closing:
            self.transport.resume_reading()

    def eof_received(self):
        return False

    def get_buffer(self, sizehint: int):
        return self.srv.rview

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.srv.rview[:nbytes]))

    def close(self, data: bytes = b"") -> None:
        self.closing = True
        self.buf = b""
        if data:
            self.transport.write(data)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        srv = self.srv
        if not self.buf:
            req = srv.heads.get(data)       # a request seen before, byte for byte: parsed already
            if req is not None:
                try:
                    resp, keep = srv.respond(req, self)
                except Exception as e:                  # never a traceback per request
                    self.fail(e, [])
                    return
                self.last = time.monotonic()
                if keep:
                    self.transport.write(resp)
                else:
                    self.close(resp)
                return
        buf = self.buf + data if self.buf else data
        out = []
        try:
            while buf:
                if buf[:2] == b"\r\n":                  # empty lines before a request line are ignored
                    buf = buf.lstrip(b"\r\n")
                    continue
                i = buf.find(b"\r\n\r\n")
                if i < 0 or i + 4 > MAX_HEADER:
                    if i >= 0 or len(buf) > MAX_HEADER:
                        srv.lines.line("warn", "request header too large", **{"remote-addr": self.peer})
                        out.append(_response(431, BODIES[431], False))
                        self.close(b"".join(out))
                        return
                    break
                try:
                    method, target, version, headers = parse_head(buf[:i])
                    end = i + 4 + body_length(headers)
                except BadRequest as e:
                    srv.lines.line("warn", "Bad Request", status=e.status, reason=e.reason,
                                   **{"remote-addr": self.peer})
                    out.append(_response(e.status, BODIES[e.status], False))
                    self.close(b"".join(out))
                    return
                if len(buf) < end:
                    break                               # the body is still coming
                q = target.find("?")
                req = (method, target if q < 0 else target[:q], version, headers, keep_alive(version, headers))
                if buf is data and end == len(data):
                    srv.remember_head(data, req)
                buf = buf[end:]
                resp, keep = srv.respond(req, self)
                out.append(resp)
                self.last = time.monotonic()
                if not keep:
                    self.close(b"".join(out))
                    return
        except Exception as e:                          # never a traceback per request
            self.fail(e, out)
            return
        self.buf = buf
        if out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def fail(self, e: Exception, out: list) -> None:
        self.srv.lines.line("error", "internal error", error=repr(e), **{"remote-addr": self.peer})
        out.append(_response(500, BODIES[500], False))
        self.close(b"".join(out))


class Server:
    def __init__(self, cfg: Config, services: dict, log: Logger):
        self.cfg = cfg
        self.services = services
        self.log = log
        self.lines = RequestLog(log)
        self.cache = auth.Cache(cfg.cache_size, cfg.prune_size)
        self.seq = 0
        self.prefix = f"{os.getpid():x}-{int(time.time()):x}"
        self.conns: set = set()
        self.endpoint = "/" + cfg.endpoint.strip("/")
        # nginx never reads the body of an auth_request answer, and closes the upstream connection
        # after one that has a body (a header-only subrequest): --empty-auth-body keeps it alive
        self.auth_bodies = {200: b"", 401: b"", 403: b""} if cfg.empty_auth_body else BODIES
        self.ok200: dict = {}
        self.heads: dict = {}
        self.rview = memoryview(bytearray(READ_SIZE))     # every connection reads into it, in turn
        self.stopping = asyncio.Event()
        self.drained = asyncio.Event()

    def reload(self) -> None:
        try:
            new = config.load(self.cfg.conf_path)
        except config.ConfigError as e:
            self.lines.line("error", "reload failed, keeping the old configuration", error=str(e))
            return
        self.services = new
        self.cache.clear()
        self.ok200.clear()
        self.lines.frags.clear()
        self.lines.line("info", "reloaded", services=len(new))

    @staticmethod
    def reframe(resp: bytes, keep: bool, version: str) -> bytes:
        """A keep-alive HTTP/1.1 answer turned into one that closes, or that says keep-alive to
        an HTTP/1.0 client."""
        head, _, body = resp.partition(b"\r\n\r\n")
        conn = b"Connection: keep-alive" if keep else b"Connection: close"
        return head + b"\r\n" + conn + b"\r\n\r\n" + body

    def remember_head(self, data: bytes, req: tuple) -> None:
        """data (one whole request without a body) parses to req: the next identical request (nginx
        sends the same bytes for each auth_request of one token and URI) is not parsed again."""
        if len(data) <= HEAD_MEMO_BYTES:
            if len(self.heads) >= HEAD_MEMO_MAX:
                self.heads.clear()
            self.heads[data] = req

    def respond(self, req: tuple, conn: Connection) -> tuple[bytes, bool]:
        """The answer to one parsed request (method, path, version, headers, keep-alive asked)
        and whether the connection stays open."""
        method, path, version, headers, keep = req
        if keep and self.stopping.is_set():
            keep = False
        resp = self.answer(path, headers, conn)
        if not keep or version != "HTTP/1.1":
            resp = self.reframe(resp, keep, version)
        if method == "HEAD":
            resp = resp[:resp.index(b"\r\n\r\n") + 4]
        return resp, keep

    def answer(self, path: str, headers: dict, conn: Connection) -> bytes:
        """The keep-alive HTTP/1.1 answer to a request for path (the target without its query);
        the decision is logged."""
        if path != self.endpoint:
            if path == "/" or path == "/live":
                return _response(200, b"OK\n", True)
            return _response(404, b"Not Found\n", True)
        t0 = time.monotonic()
        d = auth.decide(headers.get("authorization"), headers.get("x-original-uri"), self.services, self.cache,
                        self.cfg.freshness, self.cfg.clock())
        self.seq += 1
        rid = f"{self.prefix}-{self.seq}"
        took = round(time.monotonic() - t0, 6)
        if d.status == 200:
            self.lines.add(self.lines.authorized(d, rid, conn.peer_field, took, round(time.time(), 6)))
            r = self.ok200.get(d.service)
            if r is None:
                r = self.ok200[d.service] = _response(200, self.auth_bodies[200], True,
                                                      f"X-Deteco-User: {d.service}\r\n")
            return r
        self.lines.line("warn", "Unauthorized" if d.status == 401 else "Forbidden", service=d.service, path=d.path,
                        reason=d.reason, **{"req-id": rid, "remote-addr": conn.peer, "cache": d.cached,
                                            "status": d.status, "duration": took})
        return _response(d.status, self.auth_bodies[d.status], True)

    def _sweep(self) -> None:
        """Close the connections that sent no complete request within the idle timeout."""
        limit = time.monotonic() - self.cfg.idle_timeout
        for c in [c for c in self.conns if c.last < limit]:
            c.close()
        self.sweeper = asyncio.get_running_loop().call_later(min(1.0, self.cfg.idle_timeout / 4), self._sweep)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.lines.bind(loop)
        servers = []
        self._sweep()
        with signal_handlers(loop, self.stopping.set, self.reload):
            try:
                for s in self.cfg.listeners:
                    servers.append(await loop.create_server(lambda: Connection(self), sock=s))
                    self.lines.line("info", "listening", listener=format_addr(s.getsockname()),
                                    services=len(self.services), endpoint=self.endpoint)
                await self.stopping.wait()
                for srv in servers:
                    srv.close()
                # idle keep-alive connections go at once; requests being received may finish
                for c in list(self.conns):
                    if not c.buf:
                        c.close()
                busy = [c for c in self.conns if not c.closing]
                self.lines.line("info", "shutting down", requests=len(busy),
                                **{"shutdown-timeout": self.cfg.shutdown_timeout})
                if self.conns:
                    try:
                        await asyncio.wait_for(self.drained.wait(), self.cfg.shutdown_timeout)
                    except TimeoutError:
                        for c in list(self.conns):
                            c.transport.abort()
                return 0
            finally:
                self.sweeper.cancel()
                self.lines.close()


def serve(cfg: Config, services: dict, log: Logger | None = None) -> int:
    async def main():
        return await Server(cfg, services, log or Logger()).run()
    return asyncio.run(main())
