"""qlap's COM_QUERY fast path (wire.FastConn) against generated replies, without a server.

A fake socket answers each statement with one generated reply (OK, ERR or result sets, several
results chained by SERVER_MORE_RESULTS_EXISTS, values up to and over the 16 MiB packet limit,
repeated column shapes) and hands it out in pieces of random sizes. After each query() the reply
must be consumed exactly: a byte left over or a read past its end means the connection is out of
step with the server (what the real-server tests in test_qlap_server.py see as a wrong answer to
the next statement)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qlap import wire

MAX = wire.MAX_PACKET


def lenenc(n: int) -> bytes:
    if n < 0xFB:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little")
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + n.to_bytes(8, "little")


def packets(payload: bytes, seq: int) -> tuple[bytes, int]:
    """One logical payload as wire packets (split at 0xFFFFFF bytes, an empty packet after an
    exact multiple), and the next sequence id."""
    out = []
    while True:
        part, payload = payload[:MAX], payload[MAX:]
        out.append(struct.pack("<I", len(part))[:3] + bytes([seq & 0xFF]) + part)
        seq += 1
        if len(part) < MAX:
            return b"".join(out), seq


def ok(status: int = 2) -> bytes:
    return b"\x00" + lenenc(0) + lenenc(0) + struct.pack("<HH", status, 0)


def eof(status: int = 2) -> bytes:
    return b"\xfe" + struct.pack("<HH", 0, status)


def coldef(name: str) -> bytes:
    f = [b"def", b"db", b"t1", b"t1", name.encode(), name.encode()]
    return b"".join(lenenc(len(x)) + x for x in f) + b"\x0c\x21\x00\x00\x01\x00\x00\xfd\x00\x00\x00\x00\x00"


def row(values: list[bytes | None]) -> bytes:
    return b"".join(b"\xfb" if v is None else lenenc(len(v)) + v for v in values)


value = st.one_of(st.none(), st.binary(max_size=40), st.sampled_from([b"x" * 300, b"y" * 70000, b"\xfe" * 9]))
result_set = st.tuples(st.integers(1, 300), st.lists(st.lists(value, min_size=1, max_size=4), max_size=6))
one_result = st.one_of(st.just("ok"), result_set)
reply_spec = st.tuples(st.lists(one_result, min_size=1, max_size=3), st.booleans())   # results, ends in ERR


def build(spec) -> tuple[bytes, bool]:
    """The wire bytes of a reply, and whether it ends in an error."""
    results, error = spec
    seq = 1
    out = []
    for k, r in enumerate(results):
        more = 0x0008 if (k < len(results) - 1 or error) else 0
        status = 2 | more
        if r == "ok":
            b, seq = packets(ok(status), seq)
            out.append(b)
            continue
        ncols, rows = r
        names = [f"c{i}" for i in range(ncols)]
        for payload in [lenenc(ncols)] + [coldef(n) for n in names] + [eof(2)]:
            b, seq = packets(payload, seq)
            out.append(b)
        for vals in rows:
            vals = (vals * ncols)[:ncols] if ncols <= 4 else vals + [b""] * (ncols - len(vals))
            b, seq = packets(row(vals), seq)
            out.append(b)
        b, seq = packets(eof(status), seq)
        out.append(b)
    if error:
        b, seq = packets(b"\xff" + struct.pack("<H", 1054) + b"#42S22Unknown column", seq)
        out.append(b)
    return b"".join(out), error


class FakeSock:
    """Hands out the current reply only, in the piece sizes it is given (cycled)."""

    def __init__(self, pieces: list[int]):
        self.pieces = pieces or [1 << 20]
        self.k = 0
        self.reply = b""
        self.pos = 0
        self.replies: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        assert self.pos == len(self.reply), "a statement was sent before the last reply was read whole"
        self.reply, self.pos = self.replies.pop(0), 0

    def recv_into(self, mv, nbytes: int = 0) -> int:
        left = len(self.reply) - self.pos
        assert left > 0, "read past the end of the reply (would block for ever on a real server)"
        want = min(len(mv), left, self.pieces[self.k % len(self.pieces)])
        self.k += 1
        mv[:want] = self.reply[self.pos:self.pos + want]
        self.pos += want
        return want


class FakeConn:
    encoding = "utf8"

    def __init__(self, sock):
        self._sock = sock

    def _force_close(self):
        self._sock = None


def run_replies(specs, pieces):
    sock = FakeSock(pieces)
    c = wire.FastConn(FakeConn(sock))
    built = [build(s) for s in specs]
    sock.replies = [b for b, _ in built]
    for k, (_, error) in enumerate(built):
        sql = f"SELECT {k % 3}"                       # statements repeat, as in a load
        if error:
            with pytest.raises(Exception) as e:
                c.query(sql)
            assert e.value.args[0] == 1054
        else:
            c.query(sql)
        assert sock.pos == len(sock.reply), f"reply {k} not read whole ({sock.pos} of {len(sock.reply)})"


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(reply_spec, min_size=1, max_size=8),
       st.lists(st.one_of(st.integers(1, 16), st.integers(17, 70000), st.just(1 << 20)), max_size=5))
def test_every_reply_is_read_exactly(specs, pieces):
    run_replies(specs, pieces)


def test_the_same_columns_with_other_rows_and_other_shapes_in_turn():
    same = (2, [[b"1", b"abc"]])
    specs = [((same,), False), (((2, [[b"2", b"\xfe" * 9], [None, b""]]),), False), (("ok",), False),
             (((3, []),), False), ((same,), False), (((2, [[b"3", b"y" * 70000]]),), False),
             ((same, "ok"), False), ((same,), True), ((same,), False)]
    for pieces in ([1 << 20], [1], [4, 5, 9], [100, 3]):
        run_replies(specs, pieces)


def test_a_row_over_16_mib_is_read_whole():
    big = (1, [[b"z" * (MAX + 10)], [b"w" * MAX]])
    run_replies([((big,), False), (((1, [[b"1"]]),), False), ((big,), False)], [1 << 20, 7])


def test_packets_are_kept_only_when_asked():
    # a load that makes every statement anew (writes, templates, qrn) must not fill the cache
    for keep in (False, True):
        sock = FakeSock([1 << 20])
        c = wire.FastConn(FakeConn(sock))
        if keep:
            c.keep_packets()
        sock.replies = [build(((("ok",), False)))[0] for _ in range(3)]
        for k in range(3):
            c.query(f"INSERT INTO t VALUES ({k})")
        assert len(c._packets) == (3 if keep else 0)
