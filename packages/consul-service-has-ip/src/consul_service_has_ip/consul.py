"""An asyncio client for the one Consul call we make, GET /v1/health/service/NAME?passing (with
blocking-query parameters), and the membership rule: an IP is in the service when it equals an
instance's Service.Address, or its Node.Address when Service.Address is empty, compared as IP
addresses (so ::1 and 0:0:0:0:0:0:0:1 match)."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import urllib.parse


class ConsulError(Exception):
    """Consul could not answer: unreachable, timed out, an HTTP error or an unparseable body."""


def parse_ip(text: str):
    """An address as an ip_address (IPv4-mapped IPv6 as IPv4, a %zone dropped), None if not one."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def addresses(entries) -> frozenset:
    """The instances' addresses (Service.Address, else Node.Address) as ip_address objects; an
    address that is not an IP (a host name) is kept as text."""
    out = set()
    if not isinstance(entries, list):
        raise ConsulError("unexpected answer from Consul (not a list)")
    for e in entries:
        if not isinstance(e, dict):
            raise ConsulError("unexpected answer from Consul (an entry is not an object)")
        svc = e.get("Service") or {}
        node = e.get("Node") or {}
        addr = (svc.get("Address") if isinstance(svc, dict) else "") or (
            node.get("Address") if isinstance(node, dict) else "") or ""
        if addr:
            ip = parse_ip(addr)
            out.add(ip if ip is not None else addr)
    return frozenset(out)


class Endpoint:
    def __init__(self, url: str, token: str | None = None):
        if "://" not in url:
            url = "http://" + url
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"bad Consul API endpoint {url!r} (want http://host:port)")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        self.hostheader = u.netloc.rsplit("@", 1)[-1]
        self.token = token
        self.ssl = ssl.create_default_context() if u.scheme == "https" else None

    async def health(self, service: str, timeout: float, index: int = 0, wait: float = 0.0,
                     stale: bool = False) -> tuple[list, int]:
        """(entries, X-Consul-Index) of /v1/health/service/SERVICE?passing; with index, a
        blocking query that Consul holds for up to wait seconds. timeout bounds the wait for the
        response headers beyond that."""
        q = [("passing", "1")]
        if index:
            q += [("index", str(index)), ("wait", f"{max(1, int(wait))}s")]
        if stale:
            q.append(("stale", ""))
        path = f"{self.prefix}/v1/health/service/{urllib.parse.quote(service, safe='')}?{urllib.parse.urlencode(q)}"
        budget = timeout + (wait * 1.1 + 1 if index else 0)
        try:
            async with asyncio.timeout(budget):
                status, headers, body = await self._get(path)
        except TimeoutError:
            raise ConsulError(f"Consul did not answer within {budget:g}s") from None
        except OSError as e:
            raise ConsulError(f"cannot reach Consul at {self.host}:{self.port}: {e.strerror or e}") from None
        if status != 200:
            msg = body.decode("utf-8", "replace").strip()[:200]
            raise ConsulError(f"Consul answered {status}: {msg}")
        try:
            data = json.loads(body)
        except ValueError:
            raise ConsulError("Consul's answer is not JSON") from None
        try:
            idx = int(headers.get("x-consul-index", "0"))
        except ValueError:
            idx = 0
        return data, idx

    async def _get(self, path: str) -> tuple[int, dict, bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        try:
            req = [f"GET {path} HTTP/1.1", f"Host: {self.hostheader}", "Accept: application/json",
                   "User-Agent: consul-service-has-ip", "Connection: close"]
            if self.token:
                req.append(f"X-Consul-Token: {self.token}")
            writer.write(("\r\n".join(req) + "\r\n\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise ConnectionError("bad HTTP status line from Consul")
            status = int(parts[1])
            headers = {}
            for ln in lines[1:]:
                k, sep, v = ln.partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        break
                    body += await reader.readexactly(size)
                    await reader.readexactly(2)
            elif "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
            return status, headers, body
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            raise ConnectionError(f"bad HTTP answer from Consul ({type(e).__name__})") from None
        finally:
            writer.close()
