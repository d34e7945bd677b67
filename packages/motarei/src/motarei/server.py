"""The motarei daemon: follow the containers with a label (events, with a periodic resync), listen
on the TCP private ports of the newest one, send each connection to the public ports of the
matching containers newest first (falling through to older ones when a dial fails), log it, and stop
gracefully on SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import socket
import threading
import time
from dataclasses import dataclass

from motarei import backends as bk
from motarei.lifecycle import accept_loop, cancel, shutdown, signal_handlers
from motarei.logs import Logger
from motarei.relay import SPLICE, Stats, relay

# events after which the container set or its health may have changed
RESYNC_ACTIONS = {"start", "die", "stop", "kill", "destroy", "pause", "unpause", "restart", "create"}
DRAIN_ACTIONS = {"kill", "stop", "die", "pause"}


@dataclass
class Config:
    labels: list
    bind: str = "0.0.0.0"
    connect_ip: str = "127.0.0.1"
    connect_timeout: float = 60.0
    require_healthy: bool = False
    resync_interval: float = 30.0
    shutdown_timeout: float = 10.0
    splice: bool = SPLICE


def _fmt(host, port) -> str:
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Server:
    def __init__(self, cfg: Config, engine, logger: Logger):
        self.cfg = cfg
        self.engine = engine
        self.log = logger
        self.containers: list[dict] = []
        self.health: dict[str, str | None] = {}
        self.draining: set[str] = set()
        self.table: dict[int, list[tuple[str, int]]] = {}
        self.listeners: dict[int, socket.socket] = {}
        self.accepts: list[asyncio.Task] = []
        self.conns: dict[asyncio.Task, Stats | None] = {}
        self.ids = itertools.count(1)
        self.prefix = f"{os.getpid():x}-{int(time.time()):x}"
        self.loop = None
        self.stopping = None
        self.resync_wanted = None
        self._resync_lock = None
        self.listed_at = time.time()

    # -- the container set -------------------------------------------------------------------
    async def resync(self) -> None:
        async with self._resync_lock:
            try:
                listed_at = time.time()
                cs = await self.loop.run_in_executor(None, self.engine.list)
                health = {}
                if self.cfg.require_healthy:
                    for c in cs:
                        health[c["Id"]] = await self.loop.run_in_executor(None, self.engine.health, c["Id"])
            except Exception as e:                      # the engine is away: keep the last table
                self.log.warn("docker API failed", error=str(e) or type(e).__name__)
                return
            self.listed_at = listed_at
            ids = {c["Id"] for c in cs}
            self.draining &= ids                        # a container gone is no longer draining
            old = self.table
            self.containers, self.health = cs, health
            self.table = bk.backends(cs, health, self.cfg.require_healthy, self.draining)
            if self.table != old:
                self.log.info("backends", **{"backends": {str(k): [f"{c[:12]}:{p}" for c, p in v]
                                                          for k, v in sorted(self.table.items())}})
            for port in bk.listen_ports(cs):
                if port not in self.listeners:
                    self.listen(port)

    def listen(self, port: int) -> None:
        try:
            infos = socket.getaddrinfo(self.cfg.bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            fam, typ, proto, _, sa = infos[0]
            s = socket.socket(fam, typ, proto)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(sa)
            s.listen(1024)
            s.setblocking(False)
        except OSError as e:
            self.log.error("cannot listen", listener=_fmt(self.cfg.bind, port), error=e.strerror or str(e))
            return
        self.listeners[port] = s
        name = _fmt(self.cfg.bind, port)
        self.accepts.append(asyncio.ensure_future(accept_loop(
            self.loop, s, name, self.log, self.conns, lambda c, p: self.handle(c, p, name, port))))
        self.log.info("listening", listener=name)

    def on_event(self, ev: dict) -> None:
        """In the loop thread: a container event."""
        action = (ev.get("Action") or ev.get("status") or "").split(":")[0]
        cid = ev.get("id") or (ev.get("Actor") or {}).get("ID", "")
        if action in DRAIN_ACTIONS and cid:
            # no new connections to a container that is going away; open ones carry on
            self.draining.add(cid)
            self.table = bk.backends(self.containers, self.health, self.cfg.require_healthy, self.draining)
        if action in RESYNC_ACTIONS or action == "health_status":
            self.resync_wanted.set()

    async def follow_events(self) -> None:
        """The events stream in a thread; after a break, follow again after a pause (the periodic
        resync covers the gap)."""
        while True:
            broke = self.loop.create_future()

            def on_error(e, broke=broke):
                self.loop.call_soon_threadsafe(lambda: broke.done() or broke.set_result(e))

            def on_event(ev):
                self.loop.call_soon_threadsafe(self.on_event, ev)

            since = int(self.listed_at) - 1             # events since the last listing are replayed
            threading.Thread(target=self.engine.events, args=(on_event, on_error, since), daemon=True).start()
            e = await broke
            self.log.warn("docker events stream broke", error=str(e) or type(e).__name__)
            await asyncio.sleep(1.0)
            self.resync_wanted.set()

    async def resyncer(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.cfg.resync_interval):
                    await self.resync_wanted.wait()
            except TimeoutError:
                pass
            self.resync_wanted.clear()
            await asyncio.sleep(0.05)                   # a burst of events: one resync
            await self.resync()

    # -- connections -------------------------------------------------------------------------
    async def handle(self, csock, peer, listener: str, port: int) -> None:
        cid = f"{self.prefix}-{next(self.ids)}"
        t0 = time.monotonic()
        st = Stats()
        self.conns[asyncio.current_task()] = st
        csock.setblocking(False)
        fields = {"listener": listener, "remote-addr": _fmt(peer[0], peer[1]), "conn-id": cid, "start": _now_iso()}
        self.log.info("log", **fields, status="Connected")
        usock, status, latency = None, "Failed", None
        try:
            t1 = time.monotonic()
            for container, public in list(self.table.get(port, [])):
                ip = self.cfg.connect_ip
                s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    async with asyncio.timeout(self.cfg.connect_timeout):
                        await self.loop.sock_connect(s, (ip, public))
                except (OSError, TimeoutError) as e:
                    s.close()
                    self.log.warn("Failed to connect backend", **{"conn-id": cid}, container=container[:12],
                                  upstream=_fmt(ip, public),
                                  error=os.strerror(e.errno) if getattr(e, "errno", None) else "timeout")
                    continue
                usock = s
                fields["upstream"] = _fmt(ip, public)
                fields["container"] = container[:12]
                break
            if usock is None:
                self.log.error("Giveup to connect backends", **{"conn-id": cid})
                st.reason = "no backend"
                return
            latency = time.monotonic() - t1
            for so in (csock, usock):
                try:
                    so.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            await relay(self.loop, csock, usock, st, None, self.cfg.splice)
            status = "Suceeded"
        except asyncio.CancelledError:
            st.reason = st.reason or "shutdown"
            st.closed_by = st.closed_by or "motarei"
            status = "Failed" if usock is None else "Suceeded"
        except OSError as e:
            st.reason = f"error: {e.strerror or e}"
        finally:
            csock.close()
            if usock is not None:
                usock.close()
            self.log.info("log", **fields, status=status, read=st.sent[1], write=st.sent[2],
                          duration=round(time.monotonic() - t0, 6),
                          **{"connect-latency": None if latency is None else round(latency, 6),
                             "close-reason": st.reason, "closed-by": st.closed_by})

    # -- the whole life ----------------------------------------------------------------------
    async def run(self) -> int:
        self.loop = loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.resync_wanted = asyncio.Event()
        self._resync_lock = asyncio.Lock()
        bg = []
        with signal_handlers(loop, self.stopping.set, self.resync_wanted.set):
            try:
                await self.resync()
                if not self.listeners:
                    self.log.warn("no running container with the labels yet", label=",".join(self.cfg.labels))
                bg = [asyncio.ensure_future(self.follow_events()), asyncio.ensure_future(self.resyncer())]
                await self.stopping.wait()
                return await shutdown(self.log, self.conns, self.accepts, self.listeners.values(),
                                      self.cfg.shutdown_timeout)
            finally:
                self.engine.close()
                await cancel(bg + self.accepts)


def serve(cfg: Config, engine, logger: Logger | None = None) -> int:
    return asyncio.run(Server(cfg, engine, logger or Logger()).run())
