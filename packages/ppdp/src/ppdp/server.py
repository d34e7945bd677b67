"""The ppdp daemon: accept, read the PROXY header, dial an upstream, relay, log; graceful stop.

serve(cfg) runs one asyncio loop until SIGTERM or SIGINT: both stop accepting at once, let open
connections finish for up to cfg.shutdown_timeout, then close the rest and return 0 (the daemon
template lifecycle.py). SIGHUP re-resolves the upstream name at once.
"""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import os
import socket
import time
from dataclasses import dataclass, field

from ppdp import proxyproto
from ppdp.balancer import Upstream
from ppdp.dump import Dumper
from ppdp.lifecycle import accept_loop, cancel, shutdown, signal_handlers
from ppdp.listeners import format_addr
from ppdp.logs import Logger
from ppdp.relay import SPLICE, Stats, relay


@dataclass
class Config:
    listeners: list                      # bound or inherited listening sockets
    upstream_host: str
    upstream_port: int
    connect_timeout: float = 60.0
    proxy_protocol: str = "off"          # off | required | optional
    proxy_trusted: list = field(default_factory=list)   # ip_network objects; empty: anyone
    header_timeout: float = 3.0
    send_proxy: str | None = None        # None | v1 | v2
    dump_tcp: int = 0
    dump_mysql_ping: bool = False
    max_connect_retry: int = 3
    balancing: str = "leastconn"
    max_fails: int = 1
    refresh_interval: float = 3.0
    idle_timeout: float = 0.0            # 0: none
    shutdown_timeout: float = 10.0
    splice: bool = SPLICE


class HeaderError(Exception):
    pass


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ip(addr) -> ipaddress._BaseAddress | None:
    try:
        ip = ipaddress.ip_address(str(addr[0]).split("%", 1)[0])
    except (ValueError, TypeError, IndexError):
        return None
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip


async def _readable(loop, sock, timeout: float) -> None:
    fut = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: fut.done() or fut.set_result(None))
    try:
        async with asyncio.timeout(timeout):
            await fut
    finally:
        loop.remove_reader(sock.fileno())


async def read_header(loop, sock, timeout: float, optional: bool):
    """The PROXY header at the start of sock, read without taking a byte of what follows it.
    Returns a Header, or None in optional mode when the connection does not start with a
    signature (nothing is consumed then). Raises HeaderError when the header is invalid, late or
    missing (required mode)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        res = proxyproto.parse(buf)
        if isinstance(res, proxyproto.Header):
            return res
        if isinstance(res, proxyproto.Invalid):
            raise HeaderError(res.reason)
        left = deadline - time.monotonic()
        try:
            await _readable(loop, sock, max(0.0, left))
        except asyncio.TimeoutError:
            if optional and not buf:
                return None
            raise HeaderError("timeout waiting for the PROXY header") from None
        try:
            peek = sock.recv(max(res.more, 16 if not buf else res.more), socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if not peek:
            raise HeaderError("connection closed before a complete PROXY header")
        if optional and not buf:
            if not proxyproto.header_could_start(peek):
                return None
            sig = len(proxyproto.V1_PREFIX) if peek[:1] == b"P" else len(proxyproto.V2_SIG)
            if len(peek) < sig:                  # wait for the whole signature, consuming nothing
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(0.005)
                continue
        peek = peek[:res.more]
        if (buf or peek)[:1] == b"P":
            lf = peek.find(b"\n")
            take = lf + 1 if lf != -1 else len(peek)
        else:
            take = len(peek)
        buf += sock.recv(take)


class Server:
    def __init__(self, cfg: Config, logger: Logger):
        self.cfg = cfg
        self.log = logger
        self.up = Upstream(cfg.upstream_host, cfg.upstream_port, cfg.balancing, cfg.max_connect_retry,
                           cfg.max_fails)
        self.ids = itertools.count(1)
        self.prefix = f"{os.getpid():x}-{int(time.time()):x}"
        self.conns: dict[asyncio.Task, Stats] = {}
        self.stopping = None
        self.loop = None

    # -- upstream resolution -----------------------------------------------------------------
    async def resolve(self) -> None:
        try:
            await self.up.refresh(self.loop)
        except (OSError, UnicodeError) as e:
            self.log.warn("failed to resolve upstream", upstream=self.cfg.upstream_host, error=str(e))

    async def refresher(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.refresh_interval)
            await self.resolve()

    # -- one connection ----------------------------------------------------------------------
    async def handle(self, csock: socket.socket, peer, listener: str) -> None:
        cfg, loop = self.cfg, self.loop
        cid = f"{self.prefix}-{next(self.ids)}"
        t0 = time.monotonic()
        start = _now_iso()
        csock.setblocking(False)
        usock = None
        addr = None
        st = Stats()
        self.conns[asyncio.current_task()] = st
        fields = {"listener": listener, "remote-addr": format_addr(peer), "conn-id": cid, "start": start}
        status = "Failed"
        connect_latency = None
        hdr = None
        dumper = None
        try:
            try:
                csock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            # 1. the PROXY header
            if cfg.proxy_protocol != "off":
                trusted = not cfg.proxy_trusted or any(_ip(peer) in n for n in cfg.proxy_trusted
                                                       if _ip(peer) is not None)
                if not trusted and cfg.proxy_protocol == "required":
                    raise HeaderError("PROXY header from an untrusted address")
                if trusted:
                    hdr = await read_header(loop, csock, cfg.header_timeout, cfg.proxy_protocol == "optional")
            src, dst = peer, csock.getsockname()
            if hdr is not None:
                fields["proxy-version"] = hdr.version
                if hdr.src is not None and hdr.family in ("TCP4", "TCP6", "INET", "INET6"):
                    src, dst = hdr.src, hdr.dst
                    fields["remote-addr"] = format_addr(src)
                    fields["proxy-src"] = format_addr(hdr.src)
                    fields["proxy-dst"] = format_addr(hdr.dst)
                elif hdr.src is not None:
                    fields["proxy-src"], fields["proxy-dst"] = hdr.src[0], hdr.dst[0]
                if hdr.tlvs:
                    fields["proxy-tlvs"] = hdr.tlvs
                fields["socket-addr"] = format_addr(peer)
            self.log.info("log", **fields, status="Connected")
            # 2. an upstream
            t1 = time.monotonic()
            if not self.up.addrs:
                await self.resolve()
            for ip in self.up.candidates(_src_tuple(src)):
                s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    async with asyncio.timeout(cfg.connect_timeout):
                        await loop.sock_connect(s, (ip, cfg.upstream_port))
                except (OSError, asyncio.TimeoutError) as e:
                    s.close()
                    self.up.failed(ip)
                    self.log.warn("Failed to connect backend", **{"conn-id": cid},
                                  upstream=format_addr((ip, cfg.upstream_port)),
                                  error=_why(e))
                    continue
                usock, addr = s, ip
                break
            if usock is None:
                self.log.error("Giveup to connect backends", **{"conn-id": cid})
                st.reason = "upstream unreachable"
                return
            connect_latency = time.monotonic() - t1
            fields["upstream"] = format_addr((addr, cfg.upstream_port))
            try:
                usock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.up.acquire(addr)
            try:
                # 3. the header to the upstream, then the bytes
                if cfg.send_proxy:
                    h = proxyproto.encode_v1(src, dst) if cfg.send_proxy == "v1" else proxyproto.encode_v2(src, dst)
                    await loop.sock_sendall(usock, h)
                if cfg.dump_tcp:
                    dumper = Dumper(self.log, cid, cfg.dump_tcp, cfg.dump_mysql_ping, loop)
                await relay(loop, csock, usock, st, dumper.feed if dumper else None, cfg.splice)
                status = "Suceeded"             # sic: upstream's spelling, kept for log queries
            finally:
                self.up.release(addr)
        except HeaderError as e:
            st.reason = f"proxy header: {e}"
            st.closed_by = "ppdp"
            self.log.warn("invalid PROXY header", **fields, error=str(e))
        except asyncio.CancelledError:
            st.reason = st.reason or "shutdown"
            st.closed_by = st.closed_by or "ppdp"
            status = "Failed" if usock is None else "Suceeded"
        except OSError as e:
            st.reason = f"error: {e.strerror or e}"
        finally:
            if dumper is not None:
                dumper.close()
            csock.close()
            if usock is not None:
                usock.close()
            self.log.info("log", **fields, status=status, read=st.sent[1], write=st.sent[2],
                          duration=round(time.monotonic() - t0, 6),
                          **{"connect-latency": None if connect_latency is None else round(connect_latency, 6),
                             "close-reason": st.reason, "closed-by": st.closed_by})

    # -- idle connections --------------------------------------------------------------------
    async def idle_reaper(self) -> None:
        limit = self.cfg.idle_timeout
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for t, st in list(self.conns.items()):
                if st is not None and now - st.last > limit and not t.done():
                    st.reason, st.closed_by = "idle timeout", "ppdp"
                    t.cancel()

    # -- the whole life ----------------------------------------------------------------------
    async def run(self) -> int:
        self.loop = loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        bg, accepts = [], []
        with signal_handlers(loop, self.stopping.set, lambda: asyncio.ensure_future(self.resolve())):
            try:
                await self.resolve()
                bg.append(asyncio.ensure_future(self.refresher()))
                if self.cfg.idle_timeout > 0:
                    bg.append(asyncio.ensure_future(self.idle_reaper()))
                for s in self.cfg.listeners:
                    name = format_addr(s.getsockname())
                    accepts.append(asyncio.ensure_future(accept_loop(
                        loop, s, name, self.log, self.conns, lambda c, p, name=name: self.handle(c, p, name))))
                    self.log.info("listening", listener=name,
                                  upstream=f"{self.cfg.upstream_host}:{self.cfg.upstream_port}")
                await self.stopping.wait()
                return await shutdown(self.log, self.conns, accepts, self.cfg.listeners, self.cfg.shutdown_timeout)
            finally:
                await cancel(bg + accepts)


def _why(e: BaseException) -> str:
    errno_ = getattr(e, "errno", None)
    if errno_:
        return os.strerror(errno_)
    return "timeout" if isinstance(e, (TimeoutError, asyncio.TimeoutError)) else (str(e) or type(e).__name__)


def _src_tuple(addr):
    ip = _ip(addr)
    return (str(ip), addr[1]) if ip is not None else None


def serve(cfg: Config, logger: Logger | None = None) -> int:
    return asyncio.run(Server(cfg, logger or Logger()).run())
