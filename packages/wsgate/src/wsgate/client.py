"""The wsgate-client daemon: for each line of the map, listen on a local TCP address; each
accepted connection opens a WebSocket to the line's URL (with the configured headers and a fresh
bearer token) and carries bytes both ways as binary messages.

Tokens: --private-key signs {sub, iss, iat, exp} itself (RS256 for RSA keys, ES256/384/512 or
EdDSA for the others), re-signed every 10 s so each connection carries a fresh iat; --iap-credential
exchanges a service-account-signed assertion for a Google-signed OIDC ID token (target_audience =
the IAP OAuth client id) at the credential's token_uri, cached until 5 minutes before it expires."""
from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import logging
import os
import signal
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from wsgate import tokens
from wsgate.listeners import bind, format_addr
from wsgate.logs import Logger

READ_SIZE = 256 * 1024
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


@dataclass
class Config:
    tunnels: list                      # mapfile.Tunnel
    headers: list = field(default_factory=list)    # (name, value)
    connect_timeout: float = 60.0
    shutdown_timeout: float = 10.0
    compression: bool = False
    token_source: object = None       # .token() -> str, or an async .atoken()
    ping_interval: float = 30.0
    ping_timeout: float = 30.0
    max_message: int = 16 * 1024 * 1024


def parse_header(text: str) -> tuple[str, str]:
    """`Key: value` (upstream's -H form) -> (Key, value); ValueError when it is not one."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
        raise ValueError(f"invalid header {text!r} (want 'Name: value')")
    return name, value.strip()


# -- IAP ---------------------------------------------------------------------------------------
def iap_assertion(cred: dict, client_id: str, now: float) -> str:
    """The service account's self-signed JWT asking Google's token endpoint for an ID token whose
    audience is the IAP OAuth client id (the 2019 wsgate-client's flow; RS256, kid = the key id)."""
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(cred["private_key"].encode(), None)
    iat = int(now)
    claims = {"iss": cred["client_email"], "sub": cred["client_email"],
              "aud": cred.get("token_uri") or GOOGLE_TOKEN_URI, "target_audience": client_id,
              "iat": iat, "exp": iat + 3600}
    return tokens.sign(key, "RS256", claims, kid=cred.get("private_key_id"))


class IAPTokenSource:
    def __init__(self, cred_path: str, client_id: str, clock=time.time, timeout: float = 30.0):
        with open(cred_path, "rb") as f:
            cred = json.loads(f.read())
        if cred.get("type") not in (None, "service_account") or "private_key" not in cred \
                or "client_email" not in cred:
            raise ValueError(f"{cred_path}: not a service account key (type service_account, "
                             "private_key, client_email)")
        self.cred = cred
        self.client_id = client_id
        self.clock = clock
        self.timeout = timeout
        self._token, self._exp = None, 0.0
        self._lock = asyncio.Lock()

    def fetch(self) -> tuple[str, float]:
        now = self.clock()
        body = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                       "assertion": iap_assertion(self.cred, self.client_id, now)}).encode()
        req = urllib.request.Request(self.cred.get("token_uri") or GOOGLE_TOKEN_URI, data=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            doc = json.loads(r.read())
        tok = doc.get("id_token")
        if not tok:
            raise ValueError("the token endpoint answered without an id_token")
        import jwt
        exp = jwt.decode(tok, options={"verify_signature": False}).get("exp", now + 3600)
        return tok, float(exp)

    async def atoken(self) -> str:
        async with self._lock:
            if self._token is None or self.clock() > self._exp - 300:
                self._token, self._exp = await asyncio.get_running_loop().run_in_executor(None, self.fetch)
            return self._token


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Client:
    def __init__(self, cfg: Config, log: Logger):
        self.cfg = cfg
        self.log = log
        self.seq = itertools.count(1)
        self.prefix = f"{os.getpid():x}-{int(time.time()):x}"
        self.conns: set[asyncio.Task] = set()
        self.quiet = logging.getLogger("wsgate.websockets.client")
        self.quiet.addHandler(logging.NullHandler())
        self.quiet.propagate = False

    async def headers(self) -> list:
        hs = list(self.cfg.headers)
        ts = self.cfg.token_source
        if ts is not None:
            tok = await ts.atoken() if hasattr(ts, "atoken") else ts.token()
            hs.append(("Authorization", f"Bearer {tok}"))
        return hs

    async def handle(self, tun, reader, writer) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        cid = f"{self.prefix}-{next(self.seq)}"
        t0 = time.monotonic()
        fields = {"conn-id": cid, "listener": tun.listen, "url": tun.url, "start": _now_iso(),
                  "remote-addr": format_addr(writer.get_extra_info("peername"))}
        sent = recvd = 0
        closed_by = reason = None
        status = "Failed"
        ws = None
        try:
            try:
                hs = await self.headers()
                ws = await connect(tun.url, origin=tun.origin, additional_headers=hs,
                                   compression="deflate" if self.cfg.compression else None,
                                   open_timeout=self.cfg.connect_timeout or None,
                                   ping_interval=self.cfg.ping_interval or None,
                                   ping_timeout=self.cfg.ping_timeout or None, close_timeout=5,
                                   max_size=self.cfg.max_message, max_queue=4, write_limit=READ_SIZE,
                                   logger=self.quiet, user_agent_header=None)
            except InvalidStatus as e:
                reason = f"handshake: HTTP {e.response.status_code}"
                return
            except (OSError, TimeoutError, ValueError) as e:
                reason = f"handshake: {getattr(e, 'strerror', None) or e or type(e).__name__}"
                return
            except Exception as e:     # noqa: BLE001 - websockets' InvalidHandshake family, URI errors
                reason = f"handshake: {e or type(e).__name__}"
                return
            self.log.info("log", **fields, status="Connected")
            status = "Suceeded"

            async def tcp_to_ws():
                nonlocal sent
                while True:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        return
                    await ws.send(data)
                    sent += len(data)

            async def ws_to_tcp():
                nonlocal recvd
                async for msg in ws:
                    if isinstance(msg, str):
                        msg = msg.encode()
                    writer.write(msg)
                    await writer.drain()
                    recvd += len(msg)

            a = asyncio.ensure_future(tcp_to_ws())
            b = asyncio.ensure_future(ws_to_tcp())
            try:
                done, _ = await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
                if a in done:
                    closed_by, reason = "client", "eof"
                    if a.exception() is None:
                        # the local client finished sending: let the answer come back, then close
                        try:
                            async with asyncio.timeout(1.0):
                                await asyncio.shield(b)
                        except (TimeoutError, Exception):     # noqa: BLE001
                            pass
                else:
                    closed_by, reason = "server", "eof"
                for x in done:
                    e = x.exception()
                    if e is not None and not isinstance(e, ConnectionClosed):
                        reason = f"error: {getattr(e, 'strerror', None) or e}"
            except asyncio.CancelledError:
                closed_by, reason = closed_by or "wsgate", reason or "shutdown"
                raise
            finally:
                for x in (a, b):
                    if not x.done():
                        x.cancel()
                await asyncio.gather(a, b, return_exceptions=True)
        finally:
            if ws is not None:
                try:
                    await ws.close()
                except Exception:     # noqa: BLE001
                    pass
            writer.close()
            self.log.info("log", **fields, status=status, sent=sent, received=recvd,
                          duration=round(time.monotonic() - t0, 6),
                          **{"closed-by": closed_by, "close-reason": reason})

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        prev = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in prev:
            loop.add_signal_handler(sig, stopping.set)
        servers = []
        try:
            for tun in self.cfg.tunnels:
                try:
                    (sock,) = bind([tun.listen])
                except (OSError, ValueError) as e:
                    self.log.error("cannot listen", listener=tun.listen, error=getattr(e, "strerror", None) or str(e))
                    return 1

                async def cb(r, w, tun=tun):
                    task = asyncio.current_task()
                    self.conns.add(task)
                    try:
                        await self.handle(tun, r, w)
                    finally:
                        self.conns.discard(task)

                srv = await asyncio.start_server(cb, sock=sock, limit=READ_SIZE)
                servers.append(srv)
                self.log.info("listening", listener=tun.listen, url=tun.url)
            await stopping.wait()
            for srv in servers:
                srv.close()
            open_ = [t for t in self.conns if not t.done()]
            self.log.info("shutting down", connections=len(open_), **{"shutdown-timeout": self.cfg.shutdown_timeout})
            if open_:
                _, pending = await asyncio.wait(open_, timeout=self.cfg.shutdown_timeout)
                for t in pending:
                    t.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5)
            return 0
        finally:
            for srv in servers:
                srv.close()
            for sig, handler in prev.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def serve(cfg: Config, log: Logger | None = None) -> int:
    return asyncio.run(Client(cfg, log or Logger()).run())
