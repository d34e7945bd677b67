"""The PROXY protocol parser, byte by byte: the spec's examples, every malformed header the spec
names, and a hypothesis fuzz (never an exception, never a partial accept, never a byte of the
stream behind the header consumed)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ppdp import proxyproto as pp
from ppdp.proxyproto import Header, Incomplete, Invalid, parse

SIG = pp.V2_SIG


def v2(cmd=0x21, fam=0x11, body=b"", length=None) -> bytes:
    return SIG + bytes([cmd, fam]) + struct.pack("!H", len(body) if length is None else length) + body


def tlv(t: int, v: bytes) -> bytes:
    return bytes([t]) + struct.pack("!H", len(v)) + v


INET = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!HH", 56324, 443)


# -- v1 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("line,fam,src,dst", [
    (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "TCP4", ("192.168.0.1", 56324), ("192.168.0.11", 443)),
    (b"PROXY TCP6 ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".replace(b"f...f", b"ffff:ffff:ffff:ffff:ffff:ffff"),
     "TCP6", ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)),
    (b"PROXY TCP6 2001:db8::1 ::1 0 3306\r\n", "TCP6", ("2001:db8::1", 0), ("::1", 3306)),
    (b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "TCP4", ("0.0.0.0", 0), ("255.255.255.255", 65535)),
])
def test_v1_valid(line, fam, src, dst):
    h = parse(line + b"GET / HTTP/1.0\r\n")
    assert isinstance(h, Header) and h.version == 1
    assert (h.family, h.src, h.dst, h.length) == (fam, src, dst, len(line))


def test_v1_unknown_ignores_the_rest_of_the_line():
    for line in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n", b"PROXY UNKNOWN anything at all\r\n"):
        h = parse(line + b"data")
        assert isinstance(h, Header) and h.family == "UNKNOWN" and h.src is None and h.length == len(line)


def test_v1_longest_line_is_107_bytes():
    # 107 bytes including CRLF is the longest allowed; an UNKNOWN line pads easily
    ok = b"PROXY UNKNOWN " + b"x" * (107 - 16) + b"\r\n"
    assert len(ok) == 107 and isinstance(parse(ok), Header)
    long = b"PROXY UNKNOWN " + b"x" * (108 - 16) + b"\r\n"
    assert len(long) == 108
    assert isinstance(parse(long), Invalid)
    assert isinstance(parse(long[:107]), Invalid)      # rejected as soon as 107 bytes hold no CRLF


@pytest.mark.parametrize("bad", [
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",                   # CR only, then more data
    b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",                    # LF only
    b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",                 # leading zero in a port
    b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",                 # leading zero in an octet
    b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
    b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",                 # two spaces
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",                 # trailing space
    b"PROXY TCP4 ::1 ::1 1 2\r\n",                          # family mismatch
    b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",                 # no zone ids
    b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    b"PROXY  UNKNOWN\r\n",
    b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1 2\r\n",           # non-ASCII digits
    b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    b"GET / HTTP/1.1\r\n",
    b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x00",
])
def test_malformed_headers_are_rejected(bad):
    r = parse(bad)
    assert isinstance(r, Invalid), (bad, r)


def test_v1_waits_for_the_end_of_the_line():
    line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
    for i in range(len(line)):
        r = parse(line[:i])
        assert isinstance(r, Incomplete) and r.more >= 1, (i, r)


# -- v2 ---------------------------------------------------------------------------------------
def test_v2_inet_with_tlvs_and_crc():
    tlvs = [(pp.PP2_TYPE_ALPN, b"h2"), (pp.PP2_TYPE_AUTHORITY, b"example.com"),
            (pp.PP2_TYPE_UNIQUE_ID, b"u-123"), (pp.PP2_TYPE_NOOP, b"\x00\x00"),
            (pp.PP2_TYPE_AWS, b"\x01vpce-08d2bf15fac5001c9"),
            (pp.PP2_TYPE_SSL, b"\x07" + struct.pack("!I", 0) + tlv(0x21, b"TLSv1.3") + tlv(0x22, b"client")
             + tlv(0x23, b"TLS_AES_128_GCM_SHA256"))]
    hdr = pp.encode_v2(("10.0.0.1", 56324), ("10.0.0.2", 443), tlvs, crc=True)
    h = parse(hdr + b"payload")
    assert isinstance(h, Header), h
    assert (h.version, h.command, h.family, h.length) == (2, "PROXY", "INET", len(hdr))
    assert h.src == ("10.0.0.1", 56324) and h.dst == ("10.0.0.2", 443)
    assert h.tlvs["alpn"] == "h2" and h.tlvs["authority"] == "example.com"
    assert h.tlvs["unique_id"] == "u-123" and h.tlvs["aws_vpce_id"] == "vpce-08d2bf15fac5001c9"
    assert h.tlvs["ssl"] == {"client": 7, "verify": 0, "version": "TLSv1.3", "cn": "client",
                             "cipher": "TLS_AES_128_GCM_SHA256"}
    assert "crc32c" in h.tlvs


def test_v2_bad_crc32c_is_rejected():
    hdr = bytearray(pp.encode_v2(("10.0.0.1", 1), ("10.0.0.2", 2), [(pp.PP2_TYPE_UNIQUE_ID, b"abc")], crc=True))
    assert isinstance(parse(bytes(hdr)), Header)
    hdr[-1] ^= 0x01
    assert parse(bytes(hdr)) == Invalid("v2: CRC32C mismatch")
    hdr[-1] ^= 0x01
    hdr[17] ^= 0x01                                         # a changed address byte: the CRC sees it
    assert parse(bytes(hdr)) == Invalid("v2: CRC32C mismatch")


def test_crc32c_check_value():
    assert pp.crc32c(b"123456789") == 0xE3069283


def test_v2_inet6_and_unix_and_unspec():
    h = parse(pp.encode_v2(("2001:db8::1", 5), ("::1", 6)))
    assert h.family == "INET6" and h.src == ("2001:db8::1", 5) and h.dst == ("::1", 6)
    unix = b"/run/a.sock".ljust(108, b"\x00") + b"/run/b.sock".ljust(108, b"\x00")
    h = parse(v2(0x21, 0x31, unix))
    assert h.family == "UNIX" and h.src == ("/run/a.sock", None) and h.dst == ("/run/b.sock", None)
    h = parse(v2(0x21, 0x00, b""))
    assert isinstance(h, Header) and h.family == "UNSPEC" and h.src is None


def test_v2_local_with_a_length_skips_it():
    body = INET + tlv(pp.PP2_TYPE_NOOP, b"abcd")
    h = parse(v2(0x20, 0x11, body) + b"stream")
    assert isinstance(h, Header) and h.command == "LOCAL" and h.src is None
    assert h.length == 16 + len(body)
    h = parse(v2(0x20, 0x00, b"") + b"stream")
    assert h.command == "LOCAL" and h.length == 16


@pytest.mark.parametrize("bad,why", [
    (v2(0x11, 0x11, INET), "v2: version 1"),
    (v2(0x22, 0x11, INET), "v2: unknown command 2"),
    (v2(0x21, 0x41, INET), "v2: unknown family"),
    (v2(0x21, 0x13, INET), "v2: unknown family"),
    (v2(0x21, 0x11, INET[:8]), "v2: length shorter"),
    (v2(0x21, 0x21, INET), "v2: length shorter"),
    (v2(0x21, 0x11, INET + b"\x01\x00\x05ab"), "v2: TLV 0x01 runs past"),
    (v2(0x21, 0x11, INET + b"\x01\x00"), "v2: truncated TLV"),
    (v2(0x21, 0x11, INET + tlv(pp.PP2_TYPE_CRC32C, b"abc")), "v2: CRC32C TLV is not 4"),
    (v2(0x21, 0x11, INET + tlv(pp.PP2_TYPE_UNIQUE_ID, b"u" * 129)), "v2: UNIQUE_ID longer"),
    (v2(0x21, 0x11, INET + tlv(pp.PP2_TYPE_SSL, b"\x01\x00")), "v2: SSL TLV shorter"),
    (v2(0x21, 0x11, INET + tlv(pp.PP2_TYPE_SSL, b"\x01\x00\x00\x00\x00\x21\x00\x09x")), "v2: SSL sub-TLV"),
])
def test_v2_malformed(bad, why):
    r = parse(bad)
    assert isinstance(r, Invalid) and r.reason.startswith(why), r


def test_v2_truncated_is_incomplete_and_says_how_much_may_be_read():
    hdr = pp.encode_v2(("10.0.0.1", 1), ("10.0.0.2", 2), [(pp.PP2_TYPE_ALPN, b"http/1.1")], crc=True)
    for i in range(len(hdr)):
        r = parse(hdr[:i])
        assert isinstance(r, Incomplete), (i, r)
        assert i + r.more <= len(hdr), "reading `more` never passes the end of the header"


def test_unique_id_128_bytes_is_fine():
    h = parse(v2(0x21, 0x11, INET + tlv(pp.PP2_TYPE_UNIQUE_ID, b"u" * 128)))
    assert isinstance(h, Header) and h.tlvs["unique_id"] == "u" * 128


# -- encoding ---------------------------------------------------------------------------------
def test_encode_v1_normalizes_mapped_addresses_and_mixed_families():
    assert pp.encode_v1(("::ffff:10.1.2.3", 5), ("10.0.0.1", 80)) == b"PROXY TCP4 10.1.2.3 10.0.0.1 5 80\r\n"
    assert pp.encode_v1(("::1", 5), ("10.0.0.1", 80)) == b"PROXY UNKNOWN\r\n"
    assert pp.encode_v1(None, None) == b"PROXY UNKNOWN\r\n"
    assert parse(pp.encode_v2(None, None)).command == "LOCAL"


# -- the fuzz ---------------------------------------------------------------------------------
def _read_like_the_server(stream: bytes, chunks: list[int]):
    """What ppdp's reader does: peek what has arrived (the stream revealed in chunks), take at most
    Incomplete.more bytes and, on a v1 line, no byte past the first LF."""
    buf = b""
    arrived = 0
    ci = 0
    while True:
        r = parse(buf)
        if not isinstance(r, Incomplete):
            return r, buf
        if arrived <= len(buf):
            if ci >= len(chunks) or arrived >= len(stream):
                return r, buf
            arrived = min(len(stream), arrived + chunks[ci])
            ci += 1
        peek = stream[len(buf):arrived][:r.more]
        if (buf or peek)[:1] == b"P":
            lf = peek.find(b"\n")
            peek = peek[:lf + 1] if lf != -1 else peek
        buf += peek


valid_headers = st.one_of(
    st.builds(lambda a, b, p, q: pp.encode_v1((a, p), (b, q)),
              st.ip_addresses(v=4).map(str), st.ip_addresses(v=4).map(str),
              st.integers(0, 65535), st.integers(0, 65535)),
    st.builds(lambda a, b, p, q: pp.encode_v1((a, p), (b, q)),
              st.ip_addresses(v=6).map(str), st.ip_addresses(v=6).map(str),
              st.integers(0, 65535), st.integers(0, 65535)),
    st.builds(lambda a, b, p, q, t, c: pp.encode_v2((a, p), (b, q), t, crc=c),
              st.ip_addresses().map(str), st.ip_addresses().map(str),
              st.integers(0, 65535), st.integers(0, 65535),
              st.lists(st.tuples(st.sampled_from([1, 2, 4, 5, 0x30, 0xE0]), st.binary(max_size=40)), max_size=4),
              st.booleans()),
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    r = parse(data)                                   # never raises
    assert isinstance(r, (Header, Incomplete, Invalid))
    if isinstance(r, Header):
        assert 0 < r.length <= len(data)
        assert parse(data[:r.length]) == r            # the header alone is the same header
        for i in range(r.length):                      # no strict prefix is accepted
            assert not isinstance(parse(data[:i]), Header)
    if isinstance(r, Incomplete):
        assert r.more >= 1


@settings(max_examples=300, deadline=None)
@given(valid_headers, st.binary(max_size=64), st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_fuzz_valid_header_then_stream(hdr, payload, chunks):
    r, consumed = _read_like_the_server(hdr + payload, chunks + [1 << 20])
    assert isinstance(r, Header), r
    assert consumed == hdr and r.length == len(hdr)   # exactly the header, not a byte of the payload


@settings(max_examples=300, deadline=None)
@given(valid_headers, st.integers(0, 10_000), st.integers(1, 255))
def test_fuzz_one_flipped_byte_is_never_a_partial_accept(hdr, pos, xor):
    bad = bytearray(hdr)
    bad[pos % len(bad)] ^= xor
    r = parse(bytes(bad) + b"tail")
    if isinstance(r, Header):
        # a flip can give another valid header (a digit of an address); then it is a whole one
        assert r.length <= len(bad) + 4
        assert parse(bytes(bad + b"tail")[:r.length]) == r
