# The suite's daemon template listeners.py: copied byte for byte from scripts/templates/daemon/listeners.py into
# each server package that lists "daemon/listeners" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""Listening sockets: inherited from systemd socket activation (LISTEN_FDS) or Server::Starter
(SERVER_STARTER_PORT), else bound from --listen addresses. IPv6 literals in brackets work."""
from __future__ import annotations

import os
import socket

SD_LISTEN_FDS_START = 3


def split_hostport(text: str, default_host: str = "") -> tuple[str, int]:
    """'host:port', '[v6]:port', ':port' or 'port' -> (host, port). ValueError when malformed."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"bad address {text!r} (want [IPv6]:port)")
        port = rest[1:]
    elif ":" in text:
        host, _, port = text.rpartition(":")
        if ":" in host:
            raise ValueError(f"bad address {text!r} (write an IPv6 address as [addr]:port)")
    else:
        host, port = default_host, text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port)


def format_addr(addr) -> str:
    """A socket address as text: 1.2.3.4:5, [::1]:5, or the UNIX path."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in str(host) else f"{host}:{addr[1]}"
    if isinstance(addr, bytes):
        return addr.decode("utf-8", "backslashreplace")
    return str(addr) if addr else ""


def inherited(environ=os.environ) -> list[socket.socket] | None:
    """The sockets a supervisor passed to us, or None when there are none. LISTEN_FDS is honoured
    only when LISTEN_PID is this process (systemd's rule); both variables are then removed so that
    children do not inherit them."""
    n = environ.get("LISTEN_FDS")
    if n and environ.get("LISTEN_PID", str(os.getpid())) == str(os.getpid()):
        fds = range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(n))
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            environ.pop(k, None)
        return [_adopt(fd) for fd in fds]
    ss = environ.get("SERVER_STARTER_PORT")
    if ss:
        out = []
        for item in ss.split(";"):
            if item:
                _, _, fd = item.rpartition("=")
                out.append(_adopt(int(fd)))
        return out
    return None


def _adopt(fd: int) -> socket.socket:
    s = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    s.setblocking(False)
    return s


def bind(addresses: list[str], backlog: int = 1024) -> list[socket.socket]:
    """Bind one listening socket per address (an empty host: every IPv4 and IPv6 address)."""
    out = []
    for text in addresses:
        host, port = split_hostport(text)
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        fam, typ, proto, _, sa = infos[0]
        s = socket.socket(fam, typ, proto)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6 and not host:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(sa)
        s.listen(backlog)
        s.setblocking(False)
        out.append(s)
    return out
