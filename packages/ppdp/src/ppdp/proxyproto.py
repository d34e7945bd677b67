"""The PROXY protocol (haproxy doc/proxy-protocol.txt), versions 1 and 2, as pure functions over bytes.

    parse(buf)  -> Header | Incomplete | Invalid
    encode_v1(src, dst) / encode_v2(src, dst, tlvs=...) -> bytes   (what --send-proxy sends)

parse() looks at the bytes read so far from a connection and never guesses: a header is accepted
only when it is complete and valid, and Header.length says exactly how many bytes it took (what
follows belongs to the relayed stream). Incomplete.more is how many more bytes may be read without
reading past the end of the header (for v1 the reader must also stop at the first LF); a reader that
follows it never consumes a byte of the stream behind the header.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107                      # the longest v1 line, CRLF included

# v2 TLV types
PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_TYPE_NETNS = 0x30
PP2_TYPE_AWS = 0xEA
PP2_SUBTYPE_AWS_VPCE_ID = 0x01
SSL_SUBTYPES = {0x21: "version", 0x22: "cn", 0x23: "cipher", 0x24: "sig_alg", 0x25: "key_alg"}
_ADDR_LEN = {1: 12, 2: 36, 3: 216}           # INET, INET6, UNIX address blocks
FAMILIES = {0: "UNSPEC", 1: "INET", 2: "INET6", 3: "UNIX"}
TRANSPORTS = {0: "UNSPEC", 1: "STREAM", 2: "DGRAM"}


@dataclass(frozen=True)
class Header:
    """A complete, valid header of `length` bytes. src/dst are (host, port) for TCP over IPv4/IPv6,
    (path, None) for UNIX, None when the sender gave no address (v1 UNKNOWN, v2 LOCAL or UNSPEC):
    the receiver then uses the real socket endpoints."""
    version: int
    length: int
    command: str                      # "PROXY" or "LOCAL" (v1: "PROXY")
    family: str                       # TCP4 TCP6 UNKNOWN (v1); INET INET6 UNIX UNSPEC (v2)
    src: tuple | None = None
    dst: tuple | None = None
    transport: str = "STREAM"
    tlvs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Incomplete:
    more: int                          # bytes that may still be read without passing the header


@dataclass(frozen=True)
class Invalid:
    reason: str


def parse(buf: bytes) -> Header | Incomplete | Invalid:
    """Parse the start of a connection. Never raises."""
    if not buf:
        return Incomplete(1)
    if buf[0] == 0x0D:
        return _parse_v2(buf)
    if buf[0] == 0x50:                # "P"
        return _parse_v1(buf)
    return Invalid("no PROXY protocol signature")


def header_could_start(buf: bytes) -> bool:
    """True when buf is a prefix of a v1 or v2 signature, or starts with one (for optional mode)."""
    n = min(len(buf), len(V2_SIG))
    if buf[:n] == V2_SIG[:n]:
        return True
    n = min(len(buf), len(V1_PREFIX))
    return buf[:n] == V1_PREFIX[:n]


# -- v1 --------------------------------------------------------------------------------------
def _parse_v1(buf: bytes) -> Header | Incomplete | Invalid:
    n = min(len(buf), len(V1_PREFIX))
    if buf[:n] != V1_PREFIX[:n]:
        return Invalid("no PROXY protocol signature")
    lf = buf.find(b"\n", 0, V1_MAX)
    cr = buf.find(b"\r", 0, V1_MAX)
    if cr != -1 and cr + 1 < len(buf) and buf[cr + 1] != 0x0A:
        return Invalid("v1: CR not followed by LF")
    head = buf[:lf if lf != -1 else V1_MAX]
    if any((b < 0x20 and b != 0x0D) or b > 0x7E for b in head):
        return Invalid("v1: not printable US-ASCII")
    if lf == -1:
        if len(buf) >= V1_MAX:
            return Invalid(f"v1: no CRLF in the first {V1_MAX} bytes")
        return Incomplete(V1_MAX - len(buf))
    if lf == 0 or buf[lf - 1] != 0x0D:
        return Invalid("v1: LF without CR")
    line = buf[:lf - 1]
    if b"\r" in line:
        return Invalid("v1: CR not followed by LF")
    parts = line.split(b" ")
    length = lf + 1
    if len(parts) >= 2 and parts[1] == b"UNKNOWN":
        return Header(1, length, "PROXY", "UNKNOWN")
    if len(parts) != 6:
        return Invalid("v1: expected 6 fields separated by single spaces")
    _, proto, s, d, sp, dp = parts
    if proto == b"TCP4":
        src, dst = _v4(s), _v4(d)
    elif proto == b"TCP6":
        src, dst = _v6(s), _v6(d)
    else:
        return Invalid("v1: protocol is not TCP4, TCP6 or UNKNOWN")
    sport, dport = _port(sp), _port(dp)
    if src is None or dst is None:
        return Invalid(f"v1: bad {proto.decode()} address")
    if sport is None or dport is None:
        return Invalid("v1: bad port")
    return Header(1, length, "PROXY", proto.decode(), (src, sport), (dst, dport))


def _v4(b: bytes) -> str | None:
    octets = b.split(b".")
    if len(octets) != 4:
        return None
    for o in octets:
        if not o.isdigit() or len(o) > 3 or (len(o) > 1 and o[:1] == b"0") or int(o) > 255:
            return None
    return b.decode()


def _v6(b: bytes) -> str | None:
    if not b or any(c not in b"0123456789abcdefABCDEF:." for c in b):
        return None
    try:
        return str(ipaddress.IPv6Address(b.decode()))
    except ValueError:
        return None


def _port(b: bytes) -> int | None:
    if not b.isdigit() or len(b) > 5 or (len(b) > 1 and b[:1] == b"0"):
        return None
    v = int(b)
    return v if v <= 65535 else None


# -- v2 --------------------------------------------------------------------------------------
def _parse_v2(buf: bytes) -> Header | Incomplete | Invalid:
    n = min(len(buf), len(V2_SIG))
    if buf[:n] != V2_SIG[:n]:
        return Invalid("no PROXY protocol signature")
    if len(buf) < 16:
        return Incomplete(16 - len(buf))
    ver, cmd = buf[12] >> 4, buf[12] & 0x0F
    if ver != 2:
        return Invalid(f"v2: version {ver}")
    if cmd > 1:
        return Invalid(f"v2: unknown command {cmd}")
    fam, proto = buf[13] >> 4, buf[13] & 0x0F
    (rest,) = struct.unpack_from("!H", buf, 14)
    total = 16 + rest
    if len(buf) < total:
        # a command/family we would reject anyway is rejected now, before waiting for the rest
        if cmd == 1 and (fam not in FAMILIES or proto not in TRANSPORTS):
            return Invalid(f"v2: unknown family/transport 0x{buf[13]:02x}")
        if cmd == 1 and rest < _ADDR_LEN.get(fam, 0):
            return Invalid("v2: length shorter than the address block")
        return Incomplete(total - len(buf))
    hdr = bytes(buf[:total])
    if cmd == 0:                                  # LOCAL: skip the whole length, addresses unused
        return Header(2, total, "LOCAL", FAMILIES.get(fam, "UNSPEC"),
                      transport=TRANSPORTS.get(proto, "UNSPEC"))
    if fam not in FAMILIES or proto not in TRANSPORTS:
        return Invalid(f"v2: unknown family/transport 0x{buf[13]:02x}")
    alen = _ADDR_LEN.get(fam, 0)
    if rest < alen:
        return Invalid("v2: length shorter than the address block")
    body = hdr[16:16 + alen]
    src = dst = None
    if fam == 1:
        s, d, sp, dp = struct.unpack("!4s4sHH", body)
        src = (str(ipaddress.IPv4Address(s)), sp)
        dst = (str(ipaddress.IPv4Address(d)), dp)
    elif fam == 2:
        s, d, sp, dp = struct.unpack("!16s16sHH", body)
        src = (str(ipaddress.IPv6Address(s)), sp)
        dst = (str(ipaddress.IPv6Address(d)), dp)
    elif fam == 3:
        src = (_unix_path(body[:108]), None)
        dst = (_unix_path(body[108:]), None)
    tlvs = _parse_tlvs(hdr, 16 + alen)
    if isinstance(tlvs, Invalid):
        return tlvs
    return Header(2, total, "PROXY", FAMILIES[fam], src, dst, TRANSPORTS[proto], tlvs)


def _unix_path(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _tlv_items(data: bytes, pos: int, end: int):
    """(type, value_start, value_end) of each TLV in data[pos:end]; Invalid when one overruns."""
    out = []
    while pos < end:
        if end - pos < 3:
            return Invalid("v2: truncated TLV")
        t = data[pos]
        (ln,) = struct.unpack_from("!H", data, pos + 1)
        if pos + 3 + ln > end:
            return Invalid(f"v2: TLV 0x{t:02x} runs past the header")
        out.append((t, pos + 3, pos + 3 + ln))
        pos += 3 + ln
    return out


def _parse_tlvs(hdr: bytes, pos: int) -> dict | Invalid:
    items = _tlv_items(hdr, pos, len(hdr))
    if isinstance(items, Invalid):
        return items
    tlvs: dict = {}
    for t, a, b in items:
        v = hdr[a:b]
        if t == PP2_TYPE_ALPN:
            tlvs["alpn"] = _text(v)
        elif t == PP2_TYPE_AUTHORITY:
            tlvs["authority"] = _text(v)
        elif t == PP2_TYPE_CRC32C:
            if len(v) != 4:
                return Invalid("v2: CRC32C TLV is not 4 bytes")
            zeroed = hdr[:a] + b"\x00\x00\x00\x00" + hdr[b:]
            if crc32c(zeroed) != struct.unpack("!I", v)[0]:
                return Invalid("v2: CRC32C mismatch")
            tlvs["crc32c"] = v.hex()
        elif t == PP2_TYPE_NOOP:
            pass
        elif t == PP2_TYPE_UNIQUE_ID:
            if len(v) > 128:
                return Invalid("v2: UNIQUE_ID longer than 128 bytes")
            tlvs["unique_id"] = v.hex() if any(c < 0x20 or c > 0x7E for c in v) else v.decode()
        elif t == PP2_TYPE_SSL:
            if len(v) < 5:
                return Invalid("v2: SSL TLV shorter than 5 bytes")
            ssl = {"client": v[0], "verify": struct.unpack_from("!I", v, 1)[0]}
            subs = _tlv_items(v, 5, len(v))
            if isinstance(subs, Invalid):
                return Invalid("v2: SSL sub-TLV runs past the SSL TLV")
            for st, sa, sb in subs:
                ssl[SSL_SUBTYPES.get(st, f"0x{st:02x}")] = _text(v[sa:sb])
            tlvs["ssl"] = ssl
        elif t == PP2_TYPE_NETNS:
            tlvs["netns"] = _text(v)
        elif t == PP2_TYPE_AWS and v[:1] == bytes([PP2_SUBTYPE_AWS_VPCE_ID]):
            tlvs["aws_vpce_id"] = _text(v[1:])
        else:
            tlvs[f"0x{t:02x}"] = v.hex()
    return tlvs


# -- CRC32c (Castagnoli, reflected polynomial 0x82F63B78) ---------------------------------------
def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# -- encoding (--send-proxy, tests) -------------------------------------------------------------
def _family(host: str) -> int:
    ip = ipaddress.ip_address(host)
    return 4 if ip.version == 4 else 6


def normalize(addr: tuple | None) -> tuple | None:
    """(host, port) with an IPv4-mapped IPv6 address written as IPv4; None stays None."""
    if not addr or addr[1] is None:
        return addr
    try:
        ip = ipaddress.ip_address(addr[0].split("%", 1)[0])
    except ValueError:
        return addr
    if ip.version == 6 and ip.ipv4_mapped:
        return (str(ip.ipv4_mapped), addr[1])
    return (str(ip), addr[1])


def encode_v1(src: tuple | None, dst: tuple | None) -> bytes:
    src, dst = normalize(src), normalize(dst)
    try:
        fs, fd = _family(src[0]), _family(dst[0])
    except (TypeError, ValueError, AttributeError):
        return b"PROXY UNKNOWN\r\n"
    if fs != fd:
        return b"PROXY UNKNOWN\r\n"
    proto = "TCP4" if fs == 4 else "TCP6"
    return f"PROXY {proto} {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


def encode_v2(src: tuple | None, dst: tuple | None, tlvs: list[tuple[int, bytes]] = (),
              crc: bool = False, local: bool = False) -> bytes:
    """A v2 header: PROXY over TCP/IPv4 or IPv6 when both addresses are of one family, else LOCAL
    (UNSPEC). tlvs are (type, value) pairs; crc=True appends a CRC32C TLV."""
    src, dst = normalize(src), normalize(dst)
    try:
        fs, fd = _family(src[0]), _family(dst[0])
    except (TypeError, ValueError, AttributeError):
        fs, fd = 0, 1
    if local or fs != fd:
        cmd, fam, addr = 0x20, 0x00, b""
    elif fs == 4:
        cmd, fam = 0x21, 0x11
        addr = ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed + \
            struct.pack("!HH", src[1], dst[1])
    else:
        cmd, fam = 0x21, 0x21
        addr = ipaddress.IPv6Address(src[0]).packed + ipaddress.IPv6Address(dst[0]).packed + \
            struct.pack("!HH", src[1], dst[1])
    body = addr + b"".join(bytes([t]) + struct.pack("!H", len(v)) + v for t, v in tlvs)
    if crc:
        body += bytes([PP2_TYPE_CRC32C]) + struct.pack("!H", 4) + b"\x00" * 4
    hdr = V2_SIG + bytes([cmd, fam]) + struct.pack("!H", len(body)) + body
    if crc:
        hdr = hdr[:-4] + struct.pack("!I", crc32c(hdr))
    return hdr
