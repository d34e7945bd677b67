"""The wsgate-server daemon: `/` and `/live` answer OK; `/proxy/{dest}` authenticates (a bearer
JWT, and IAP's signed assertion when configured), looks the destination up in the map, checks the
subject against the destination's allow list, dials the upstream *before* upgrading, then carries
binary WebSocket messages to TCP and TCP reads to binary messages until either side ends.

serve(cfg, log) runs one asyncio loop until SIGTERM/SIGINT (stop accepting at once, let tunnels
finish for cfg.shutdown_timeout, close the rest, return 0). SIGHUP reloads the map and the keys;
a bad new configuration is logged and the old one kept."""
from __future__ import annotations

import asyncio
import datetime
import itertools
import logging
import os
import time
from dataclasses import dataclass, field

from wsgate import mapfile, tokens
from wsgate.lifecycle import signal_handlers
from wsgate.listeners import format_addr
from wsgate.logs import Logger

READ_SIZE = 256 * 1024
IAP_ISSUER = "https://cloud.google.com/iap"


@dataclass
class Config:
    listeners: list
    map_path: str
    key_paths: list = field(default_factory=list)
    freshness: float = 3600.0
    handshake_timeout: float = 10.0
    dial_timeout: float = 10.0
    write_timeout: float = 10.0
    shutdown_timeout: float = 10.0
    compression: bool = False
    dump_tcp: int = 0
    iap_key_paths: list = field(default_factory=list)
    iap_audience: str | None = None
    ping_interval: float = 30.0
    ping_timeout: float = 30.0
    idle_timeout: float = 0.0
    max_message: int = 16 * 1024 * 1024
    clock: object = time.time


@dataclass
class Settings:
    """What SIGHUP reloads, swapped whole."""
    dests: dict
    keys: list
    iap_keys: list


def load_settings(cfg: Config) -> Settings:
    """Raises ValueError (MapError, KeyError_) or OSError with a message naming the file."""
    with open(cfg.map_path, encoding="utf-8", errors="surrogateescape") as f:
        dests = mapfile.parse_server_map(f.read(), cfg.map_path)
    keys = tokens.load_key_files(cfg.key_paths) if cfg.key_paths else []
    iap = tokens.load_key_files(cfg.iap_key_paths) if cfg.iap_key_paths else []
    return Settings(dests, keys, iap)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hexdump(data: bytes) -> tuple[str, str]:
    return data.hex(" "), "".join(chr(b) if 32 <= b < 127 else "." for b in data)


class _Forward(logging.Handler):
    """websockets' own warnings and errors (a malformed or oversized handshake request, answered
    400/431 by websockets before our code sees it) as one log line of ours: no traceback."""

    def __init__(self, log: Logger):
        super().__init__(logging.WARNING)
        self.out = log

    def emit(self, record) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        cause = getattr(exc, "__cause__", None) or exc
        err = f"{type(cause).__name__}: {cause}" if cause is not None else None
        self.out.warn(record.getMessage(), error=err)


class Tunnel:
    __slots__ = ("cid", "fields", "reader", "writer", "read", "write", "last", "closed_by", "reason", "t0")

    def __init__(self, cid, fields):
        self.cid = cid
        self.fields = fields
        self.reader = self.writer = None
        self.read = 0        # client -> upstream bytes (upstream's "read")
        self.write = 0       # upstream -> client bytes (upstream's "write")
        self.last = time.monotonic()
        self.closed_by = None
        self.reason = None
        self.t0 = time.monotonic()


class Server:
    def __init__(self, cfg: Config, settings: Settings, log: Logger):
        self.cfg = cfg
        self.settings = settings
        self.log = log
        self.seq = itertools.count(1)
        self.prefix = f"{os.getpid():x}-{int(time.time()):x}"
        self.pending: dict[object, Tunnel] = {}        # connection -> dialled tunnel awaiting the upgrade
        self.tasks: dict[asyncio.Task, Tunnel] = {}
        self.loop = None

    # -- HTTP side: health, auth, lookup, dial ------------------------------------------------
    def authenticate(self, headers) -> tuple[str | None, str | None]:
        """(subject, None) or (None, reason). No key and no IAP configured: (None, None)."""
        st, now = self.settings, self.cfg.clock()
        sub = None
        if st.iap_keys:
            assertion = headers.get("x-goog-iap-jwt-assertion")
            if not assertion:
                return None, "no IAP assertion"
            try:
                c = tokens.verify(assertion, st.iap_keys, freshness=None, now=now,
                                  audience=self.cfg.iap_audience, issuer=IAP_ISSUER)
            except tokens.TokenError as e:
                return None, f"IAP assertion: {e}"
            sub = c.get("email") or c.get("sub")
        if st.keys:
            auth = headers.get("Authorization") or ""
            scheme, _, tok = auth.partition(" ")
            if scheme.lower() != "bearer" or not tok.strip():
                return None, "no bearer token"
            try:
                c = tokens.verify(tok.strip(), st.keys, freshness=self.cfg.freshness, now=now)
            except tokens.TokenError as e:
                return None, str(e)
            s = c.get("sub")
            sub = s if isinstance(s, str) else sub
        return sub, None

    async def process_request(self, conn, request):
        path = request.path.split("?", 1)[0]
        if path in ("/", "/live"):
            return conn.respond(200, "OK\n")
        if not path.startswith("/proxy/"):
            return conn.respond(404, "Not Found\n")
        dest = path[len("/proxy/"):]
        h = request.headers
        cid = f"{self.prefix}-{next(self.seq)}"
        fields = {"conn-id": cid, "seq": cid, "x-forwarded-for": h.get("X-Forwarded-For"),
                  "remote-addr": format_addr(conn.remote_address), "destination": dest,
                  "start": _now_iso(),
                  "user-email": h.get("X-Goog-Authenticated-User-Email")}
        sub, why = self.authenticate(h)
        if why is not None:
            self.log.warn("unauthorized", **fields, status="Failed", error=why)
            return conn.respond(401, "Unauthorized\n")
        if sub is not None:
            fields["user-email"] = sub
            fields["sub"] = sub
        d = self.settings.dests.get(dest)
        if d is None:
            self.log.warn("not found", **fields, status="Failed")
            return conn.respond(404, f"Not found: {dest}\n")
        if d.allow is not None and sub not in d.allow:
            self.log.warn("forbidden", **fields, status="Failed", error="subject not in the allow list")
            return conn.respond(403, "Forbidden\n")
        fields["upstream"] = d.addr
        try:
            async with asyncio.timeout(self.cfg.dial_timeout):
                reader, writer = await asyncio.open_connection(d.host, d.port, limit=READ_SIZE)
        except (OSError, TimeoutError) as e:
            timeout = isinstance(e, TimeoutError) and not getattr(e, "errno", None)
            why = "timeout" if timeout else (e.strerror or str(e))
            self.log.error("Could not connect upstream", **fields, status="Failed", error=why)
            return conn.respond(504 if timeout else 502, f"Could not connect upstream: {why}\n")
        t = Tunnel(cid, fields)
        t.reader, t.writer = reader, writer
        self.pending[conn] = t
        return None

    def process_response(self, conn, request, response):
        # the handshake failed after we dialled (bad Upgrade headers ...): do not leak the socket
        if response.status_code != 101:
            t = self.pending.pop(conn, None)
            if t is not None:
                t.writer.close()
                self.log.warn("handshake failed", **t.fields, status="Failed", code=response.status_code)
        return None

    # -- the tunnel ----------------------------------------------------------------------------
    async def handler(self, ws):
        from websockets.exceptions import ConnectionClosed
        t = self.pending.pop(ws, None)
        if t is None:
            return
        task = asyncio.current_task()
        self.tasks[task] = t
        self.log.info("log", **t.fields, status="Connected")
        status = "Suceeded"                       # sic: upstream's spelling, kept for log queries
        dump = self.cfg.dump_tcp

        async def ws_to_tcp():
            async for msg in ws:
                if isinstance(msg, str):
                    msg = msg.encode()
                t.last = time.monotonic()
                if dump >= 1:
                    self._dump(t, 1, msg)
                t.writer.write(msg)
                async with asyncio.timeout(self.cfg.write_timeout or None):
                    await t.writer.drain()
                t.read += len(msg)
            # the client closed the WebSocket
            if t.closed_by is None:
                t.closed_by, t.reason = "client", "client_nextreader"
            try:
                t.writer.write_eof()
            except OSError:
                pass

        async def tcp_to_ws():
            while True:
                data = await t.reader.read(READ_SIZE)
                if not data:
                    if t.closed_by is None:
                        t.closed_by, t.reason = "upstream", "upstream_read"
                    return
                t.last = time.monotonic()
                if dump >= 2:
                    self._dump(t, 2, data)
                await ws.send(data)
                t.write += len(data)

        a = asyncio.ensure_future(ws_to_tcp())
        b = asyncio.ensure_future(tcp_to_ws())
        try:
            done, _ = await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
            for x in done:
                e = x.exception()
                if e is not None:
                    if isinstance(e, ConnectionClosed):
                        if e.rcvd is None and e.sent is not None and e.sent.code == 1011:
                            t.closed_by, t.reason = "wsgate", "keepalive timeout"
                        t.closed_by = t.closed_by or "client"
                        t.reason = t.reason or "client_nextreader"
                    elif isinstance(e, TimeoutError):
                        t.closed_by = t.closed_by or "upstream"
                        t.reason = t.reason or "client_upstream_copy: write timeout"
                    else:
                        t.closed_by = t.closed_by or ("client" if x is a else "upstream")
                        t.reason = t.reason or ("client_upstream_copy" if x is a else "client_write") + \
                            f": {getattr(e, 'strerror', None) or e}"
                        status = "Failed"
            if b in done and a not in done and not b.exception():
                # upstream EOF: finish the WebSocket (a close frame), the client's reads end
                await ws.close()
            elif a in done and b not in done:
                # client gone: give the upstream a moment to answer the half-close, then stop
                try:
                    async with asyncio.timeout(1.0 if a.exception() is None else 0):
                        await asyncio.shield(b)
                except (TimeoutError, Exception):   # noqa: BLE001
                    pass
        except asyncio.CancelledError:
            t.closed_by = t.closed_by or "wsgate"
            t.reason = t.reason or "shutdown"
            raise
        finally:
            for x in (a, b):
                if not x.done():
                    x.cancel()
            await asyncio.gather(a, b, return_exceptions=True)
            t.writer.close()
            self.tasks.pop(task, None)
            if ws.state.name != "CLOSED":
                await ws.close(1001 if t.reason in ("shutdown", "shutdown timeout", "idle timeout") else 1000)
            self.log.info("log", **t.fields, status=status, read=t.read, write=t.write,
                          duration=round(time.monotonic() - t.t0, 6),
                          disconnect_at=t.reason, **{"closed-by": t.closed_by, "close-reason": t.reason})

    def _dump(self, t: Tunnel, direction: int, data: bytes) -> None:
        for i in range(0, len(data), 4096):
            chunk = data[i:i + 4096]
            hx, asc = _hexdump(chunk)
            self.log.info("dump", **{"conn-id": t.cid}, direction=direction, hex=hx, ascii=asc)

    async def idle_reaper(self) -> None:
        limit = self.cfg.idle_timeout
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for task, t in list(self.tasks.items()):
                if now - t.last > limit and not task.done():
                    t.closed_by, t.reason = "wsgate", "idle timeout"
                    task.cancel()

    def reload(self) -> None:
        try:
            new = load_settings(self.cfg)
        except (OSError, ValueError) as e:
            self.log.error("reload failed, keeping the old configuration",
                           error=str(e) if isinstance(e, ValueError) else f"{e.filename}: {e.strerror}")
            return
        self.settings = new
        self.log.info("reloaded", destinations=len(new.dests), keys=len(new.keys), **{"iap-keys": len(new.iap_keys)})

    # -- the whole life ------------------------------------------------------------------------
    def connection_class(self):
        """websockets' ServerConnection that logs a request websockets refused before our code saw
        it (malformed, header line or block too large: 400/431) as one line, without traceback."""
        from websockets.asyncio.server import ServerConnection
        log, pending = self.log, self.pending

        class Conn(ServerConnection):
            async def handshake(self, *a, **kw):
                try:
                    return await super().handshake(*a, **kw)
                except BaseException:
                    # dialled, then the handshake failed (the client went away): no stray upstream
                    t = pending.pop(self, None)
                    if t is not None:
                        t.writer.close()
                    raise
                finally:
                    exc = self.protocol.handshake_exc
                    if self.request is None and exc is not None:
                        cause = exc.__cause__ or exc
                        log.warn("bad request", **{"remote-addr": format_addr(self.remote_address)},
                                 status="Failed", code=getattr(self.response, "status_code", None),
                                 error=f"{type(cause).__name__}: {cause}"[:200])
        return Conn

    async def run(self) -> int:
        from websockets.asyncio.server import serve as ws_serve
        self.loop = loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        quiet = logging.getLogger("wsgate.websockets")
        quiet.addHandler(_Forward(self.log))
        quiet.setLevel(logging.WARNING)
        quiet.propagate = False
        with signal_handlers(loop, stopping.set, self.reload):
            servers = []
            bg = []
            try:
                for s in self.cfg.listeners:
                    srv = await ws_serve(self.handler, sock=s, process_request=self.process_request,
                                         process_response=self.process_response,
                                         compression="deflate" if self.cfg.compression else None,
                                         open_timeout=self.cfg.handshake_timeout or None,
                                         ping_interval=self.cfg.ping_interval or None,
                                         ping_timeout=self.cfg.ping_timeout or None,
                                         close_timeout=5, max_size=self.cfg.max_message, max_queue=4,
                                         write_limit=READ_SIZE, logger=quiet, server_header=None,
                                         create_connection=self.connection_class())
                    servers.append(srv)
                    self.log.info("listening", listener=format_addr(s.getsockname()),
                                  destinations=len(self.settings.dests),
                                  auth="jwt" if self.settings.keys else "none",
                                  iap=bool(self.settings.iap_keys))
                if not self.settings.keys and not self.settings.iap_keys:
                    self.log.warn("no -public-key: every client reaches every destination without authentication")
                if self.cfg.idle_timeout > 0:
                    bg.append(asyncio.ensure_future(self.idle_reaper()))
                await stopping.wait()
                for srv in servers:
                    srv.close(close_connections=False)
                open_ = [t for t in self.tasks if not t.done()]
                self.log.info("shutting down", connections=len(open_), **{"shutdown-timeout": self.cfg.shutdown_timeout})
                if open_:
                    _, pending = await asyncio.wait(open_, timeout=self.cfg.shutdown_timeout)
                    for task in pending:
                        t = self.tasks.get(task)
                        if t is not None:
                            t.closed_by, t.reason = "wsgate", "shutdown timeout"
                        task.cancel()
                    if pending:
                        await asyncio.wait(pending, timeout=5)
                for srv in servers:
                    srv.close()
                for srv in servers:
                    try:
                        async with asyncio.timeout(5):
                            await srv.wait_closed()
                    except TimeoutError:
                        pass
                return 0
            finally:
                for x in bg:
                    x.cancel()
                for t in self.pending.values():
                    t.writer.close()


def serve(cfg: Config, settings: Settings, log: Logger | None = None) -> int:
    return asyncio.run(Server(cfg, settings, log or Logger()).run())
