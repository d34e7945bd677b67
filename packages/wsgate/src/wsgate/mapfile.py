"""The map files of wsgate-server (`name,host:port[,sub1|sub2]`) and wsgate-client
(`listen_addr,url`): pure parsers. A comment line (`^ *#`) is skipped; any other line that is
blank or malformed is a MapError naming its line number (upstream's server loaded a nil map and
then panicked on every request)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_COMMENT = re.compile(r"^ *#")
_NAME = re.compile(r"^[A-Za-z0-9._~!$&'()*+;=:@-]+$")     # one path segment, as in /proxy/{dest}


class MapError(ValueError):
    def __init__(self, lineno: int, reason: str, source: str = ""):
        self.lineno = lineno
        self.reason = reason
        where = f"{source}:{lineno}" if source else f"line {lineno}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Destination:
    name: str
    host: str
    port: int
    allow: frozenset | None = None      # subjects allowed; None: any authenticated subject

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Tunnel:
    listen: str          # host:port to listen on
    url: str             # ws:// or wss:// URL
    origin: str          # scheme://host of the URL as written (http/https), sent as Origin


def split_hostport(text: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); ValueError when malformed."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"bad address {text!r} (want [IPv6]:port)")
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"bad address {text!r} (want host:port)")
        if ":" in host:
            raise ValueError(f"bad address {text!r} (write an IPv6 address as [addr]:port)")
    if not host:
        raise ValueError(f"bad address {text!r} (no host)")
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port)


def _lines(text: str):
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()                      # the final newline ends the last line
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if _COMMENT.match(line):
            continue
        yield n, line


def parse_server_map(text: str, source: str = "") -> dict[str, Destination]:
    out: dict[str, Destination] = {}
    for n, line in _lines(text):
        if not line.strip():
            raise MapError(n, "blank line (write a comment with # instead)", source)
        name, sep, rest = line.partition(",")
        if not sep:
            raise MapError(n, f"no comma in {line!r} (want name,host:port)", source)
        name = name.strip()
        if not name or not _NAME.match(name) or name in (".", ".."):
            raise MapError(n, f"bad destination name {name!r}", source)
        addr, sep, subs = rest.partition(",")
        try:
            host, port = split_hostport(addr.strip())
        except ValueError as e:
            raise MapError(n, str(e), source) from None
        allow = None
        if sep:
            items = [s.strip() for s in subs.split("|")]
            if not all(items):
                raise MapError(n, f"empty subject in the allow list {subs!r}", source)
            allow = frozenset(items)
        if name in out:
            raise MapError(n, f"duplicate destination {name!r}", source)
        out[name] = Destination(name, host, port, allow)
    return out


def parse_client_map(text: str, source: str = "") -> list[Tunnel]:
    out: list[Tunnel] = []
    seen = set()
    for n, line in _lines(text):
        if not line.strip():
            raise MapError(n, "blank line (write a comment with # instead)", source)
        listen, sep, url = line.partition(",")
        if not sep:
            raise MapError(n, f"no comma in {line!r} (want listen_addr,url)", source)
        listen, url = listen.strip(), url.strip()
        try:
            split_hostport(listen)
        except ValueError as e:
            raise MapError(n, str(e), source) from None
        try:
            parts = urlsplit(url)
        except ValueError as e:
            raise MapError(n, f"bad URL {url!r}: {e}", source) from None
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise MapError(n, f"bad URL {url!r} (want http(s):// or ws(s)://host/...)", source)
        if listen in seen:
            raise MapError(n, f"duplicate listen address {listen!r}", source)
        seen.add(listen)
        origin = f"{parts.scheme}://{parts.netloc}"
        if url.startswith("http"):
            url = "ws" + url[4:]          # http -> ws, https -> wss, as upstream
        out.append(Tunnel(listen, url, origin))
    return out
