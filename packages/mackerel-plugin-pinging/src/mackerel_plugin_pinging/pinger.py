"""ICMP echo on icmplib: name resolution, socket opening (unprivileged first, raw as fallback),
and the upstream ping sequence (one uncounted warm-up ping, then `count` pings, each after
sleeping `interval`), with RTTs timed on the monotonic clock and failures sorted by reason.

icmplib is imported here, and this module is imported only once arguments are parsed.
"""
from __future__ import annotations

import importlib
import ipaddress
import os
import socket
import sys
import time
import types
from collections.abc import Callable

from .stats import Result


def _import_icmplib():
    """Import icmplib without paying for asyncio at start-up.

    icmplib imports asyncio at module level (about 0.1 s of CPU, most of a run's cost) but uses
    it only inside its async functions, which this plugin never calls. During the import a
    stand-in module is registered as asyncio; it loads the real one on first attribute access.
    The stand-in is removed right after, so any later `import asyncio` gets the real module."""
    if "asyncio" in sys.modules or "icmplib" in sys.modules:
        return importlib.import_module("icmplib")

    class LazyAsyncio(types.ModuleType):
        def __getattr__(self, name):
            if sys.modules.get("asyncio") is self:
                del sys.modules["asyncio"]
            return getattr(importlib.import_module("asyncio"), name)

    stand_in = LazyAsyncio("asyncio")
    sys.modules["asyncio"] = stand_in
    try:
        return importlib.import_module("icmplib")
    finally:
        if sys.modules.get("asyncio") is stand_in:
            del sys.modules["asyncio"]


icmplib = _import_icmplib()
ICMPRequest = icmplib.ICMPRequest
ICMPv4Socket = icmplib.ICMPv4Socket
ICMPv6Socket = icmplib.ICMPv6Socket

PING_GROUP_RANGE = "/proc/sys/net/ipv4/ping_group_range"


class ResolveError(Exception):
    pass


class SocketOpenError(Exception):
    """No ICMP socket could be opened (permissions, bad --source)."""


def resolve(host: str, family: int | None = None) -> tuple[str, int]:
    """Return (address, 4|6). Without an explicit family the upstream rule applies: a name with
    ':' is IPv6, anything else IPv4. The first address of the lookup is used."""
    if family is None:
        family = 6 if ":" in host else 4
    af = socket.AF_INET6 if family == 6 else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, None, af, socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ResolveError(f"cannot resolve {host} as IPv{family}: {reason}") from None
    if not infos:
        raise ResolveError(f"cannot resolve {host} as IPv{family}: no address")
    return infos[0][4][0], family


def _timed(base):
    """An icmplib socket class that stamps perf_counter_ns() right before sendto() and when a
    packet is parsed, so RTTs do not depend on the wall clock icmplib uses (time.time())."""

    class Timed(base):
        t_send: int | None = None
        t_recv: int | None = None

        def _set_traffic_class(self, traffic_class):  # called just before sendto()
            super()._set_traffic_class(traffic_class)
            self.t_send = time.perf_counter_ns()

        def _parse_reply(self, packet, source, current_time):
            self.t_recv = time.perf_counter_ns()
            return super()._parse_reply(packet, source, current_time)

    Timed.__name__ = "Timed" + base.__name__
    return Timed


TimedV4 = _timed(ICMPv4Socket)
TimedV6 = _timed(ICMPv6Socket)


def _ping_group_range() -> str:
    try:
        with open(PING_GROUP_RANGE) as f:
            return " ".join(f.read().split())
    except OSError:
        return "unknown"


def permission_message() -> str:
    gid = os.getegid()
    return ("cannot open an ICMP socket: unprivileged ICMP needs the group id "
            f"{gid} inside net.ipv4.ping_group_range (now \"{_ping_group_range()}\"; e.g. "
            "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"), raw ICMP needs root or "
            "CAP_NET_RAW (e.g. AmbientCapabilities=CAP_NET_RAW, or run the agent as root)")


def open_socket(family: int, source: str | None = None, mode: str = "auto"):
    """Open an ICMP socket: mode 'auto' tries an unprivileged (SOCK_DGRAM) socket first and falls
    back to a raw one; 'unprivileged' / 'privileged' use only that kind."""
    cls = TimedV6 if family == 6 else TimedV4
    kinds = {"auto": (False, True), "unprivileged": (False,), "privileged": (True,)}[mode]
    for privileged in kinds:
        try:
            return cls(address=source, privileged=privileged)
        except icmplib.SocketPermissionError:
            continue
        except icmplib.SocketAddressError:
            raise SocketOpenError(f"cannot use source address {source} for IPv{family}") from None
        except icmplib.ICMPSocketError as e:
            if source is not None:  # e.g. a name that does not resolve: say it was --source
                raise SocketOpenError(f"cannot use source address {source} for IPv{family}: {e}") \
                    from None
            raise SocketOpenError(f"cannot open an ICMP socket: {e}") from None
    raise SocketOpenError(permission_message())


def classify(exc: BaseException) -> str:
    if isinstance(exc, icmplib.TimeoutExceeded):
        return "timeout"
    if isinstance(exc, icmplib.DestinationUnreachable):
        return "unreachable"
    text = str(exc).lower()
    if "unreachable" in text:
        return "unreachable"
    return "other"


def ping_once(sock, address: str, ident: int, seq: int, timeout_s: float,
              payload_size: int = 56, ttl: int = 64) -> float:
    """One echo request; returns the RTT in ms or raises (reason, message) as PingFailure."""
    req = ICMPRequest(destination=address, id=ident, sequence=seq & 0xffff,
                      payload_size=payload_size, ttl=ttl)
    sock.t_send = sock.t_recv = None
    t0 = time.perf_counter_ns()
    try:
        sock.send(req)
    except icmplib.SocketBroadcastError:
        # icmplib maps every EACCES of sendto() to this; it is mostly a prohibit route or a
        # firewall rule, rarely a broadcast address
        raise PingFailure("send_error", "sendto: Permission denied (a broadcast address, "
                                        "a prohibit route or a firewall rule)") from None
    except icmplib.ICMPLibError as e:
        raise PingFailure("send_error", str(e) or type(e).__name__) from None
    except OSError as e:
        raise PingFailure("send_error", e.strerror or str(e)) from None
    if sock.t_send is not None:
        t0 = sock.t_send
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise icmplib.TimeoutExceeded(timeout_s)
            reply = sock.receive(req, left)
            t1 = sock.t_recv or time.perf_counter_ns()
            if reply.type in ECHO_REPLY_TYPES and not _same_address(reply.source, address):
                # a raw socket sees every reply of the machine: this one, with our identifier
                # and sequence, answers another pinger (icmplib matches id and sequence only)
                continue
            break
        reply.raise_for_status()
    except icmplib.TimeoutExceeded:
        raise PingFailure("timeout", f"timeout after {timeout_s * 1000:g} ms") from None
    except icmplib.ICMPLibError as e:
        raise PingFailure(classify(e), str(e) or type(e).__name__) from None
    except OSError as e:
        raise PingFailure(classify(e), e.strerror or str(e)) from None
    if time.monotonic() > deadline + 0.001:
        # icmplib measures its limit on the wall clock; hold the monotonic one
        raise PingFailure("timeout", f"timeout after {timeout_s * 1000:g} ms")
    return (t1 - t0) / 1e6


ECHO_REPLY_TYPES = (0, 129)  # ICMPv4, ICMPv6 echo reply


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return a == b


class PingFailure(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def ping_host(sock, address: str, count: int, interval_s: float, timeout_s: float, ident: int,
              preflight: bool = True, log: Callable[[str], None] | None = None,
              sleep: Callable[[float], None] = time.sleep) -> tuple[Result, str | None]:
    """The upstream sequence. Returns the Result and the first failure message (or None)."""
    res = Result(requested=count)
    first: str | None = None
    seq = 0
    if preflight:
        try:
            rtt = ping_once(sock, address, ident, seq, timeout_s)
            if log:
                log(f"{address}: warm-up ping {rtt:.3f} ms (not counted)")
        except PingFailure as f:
            if log:
                log(f"{address}: warm-up ping failed ({f.reason}): {f.message} (not counted)")
        seq += 1
    for _ in range(count):
        if interval_s > 0:
            sleep(interval_s)
        try:
            rtt = ping_once(sock, address, ident, seq, timeout_s)
            res.rtts.append(rtt)
            if log:
                log(f"{address}: seq={seq} rtt={rtt:.3f} ms")
        except PingFailure as f:
            res.errors[f.reason] = res.errors.get(f.reason, 0) + 1
            if first is None:
                first = f"{f.reason}: {f.message}"
            if log:
                log(f"{address}: seq={seq} failed ({f.reason}): {f.message}")
        seq += 1
    return res, first
