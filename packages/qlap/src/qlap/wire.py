"""A fast COM_QUERY for the load loop: send the statement on a connection PyMySQL has opened and
authenticated, then read the reply with `recv_into` into one reused buffer and walk its packets
in place, throwing the rows away without decoding column definitions or values (a load tester
needs the timing, not the data): one send and, for the usual small reply, one receive per query,
and about a sixth of the client CPU of `Connection.query()`.

Protocol facts used (classic protocol, no CLIENT_DEPRECATE_EOF — PyMySQL does not ask for it):
a reply is OK (0x00), ERR (0xFF) or a result set: column count, column definitions, EOF, rows,
EOF; a payload of 0xFFFFFF bytes continues in the next packet; the EOF/OK status flag 0x0008
(SERVER_MORE_RESULTS_EXISTS) means another result follows.
"""
from __future__ import annotations

import struct

_CMD = struct.Struct("<IB")
_STATUS = struct.Struct("<H")
MAX_PACKET = 0xFFFFFF
MORE_RESULTS = 0x0008


def _lenenc(p: bytes, i: int) -> tuple[int, int]:
    b = p[i]
    if b < 0xFB:
        return b, i + 1
    if b == 0xFC:
        return p[i + 1] | p[i + 2] << 8, i + 3
    if b == 0xFD:
        return p[i + 1] | p[i + 2] << 8 | p[i + 3] << 16, i + 4
    return int.from_bytes(p[i + 1:i + 9], "little"), i + 9


class FastConn:
    """COM_QUERY on an open PyMySQL connection, the reply read with `recv_into` into one reused
    buffer and walked packet by packet in place: one system call and no Python object per packet
    for the usual small reply (about half the client CPU of reading each packet from PyMySQL's
    buffered socket file). Bigger replies are streamed through the buffer."""

    BUF = 1 << 16

    def __init__(self, conn):
        from pymysql import err
        self.conn = conn
        self.err = err
        self._encoding = conn.encoding
        self._buf = bytearray(self.BUF)
        self._mv = memoryview(self._buf)
        self._recv_into = conn._sock.recv_into
        self._sendall = conn._sock.sendall
        self._packets: dict[str, bytes] = {}      # statement -> its COM_QUERY packet (keep_packets)
        self._keep = False
        self._prefix = b""      # the bytes before the rows of the last result set read: column count,
        self._lp = 0            # definitions and their EOF, the same in every reply to the same SELECT

    def thread_id(self) -> int:
        return self.conn.thread_id()

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def _lost(self, msg: str = "Lost connection to MySQL server during query"):
        try:
            self.conn._force_close()
        except Exception:
            pass
        raise self.err.OperationalError(2013, msg)

    def _recv(self, mv) -> int:
        try:
            got = self._recv_into(mv)
        except OSError as e:
            self._lost(f"Lost connection to MySQL server during query ({e})")
        if not got:
            self._lost()
        return got

    def _fill(self, pos: int, n: int, k: int) -> tuple[int, int]:
        """Make buf[pos:pos + k] hold received bytes (compacting or growing the buffer); the new
        (pos, n)."""
        buf = self._buf
        if pos + k > len(buf):
            if k > len(buf):
                nb = bytearray(max(k, 2 * len(buf)))
                nb[:n - pos] = buf[pos:n]
                self._buf, self._mv = nb, memoryview(nb)
            else:
                buf[:n - pos] = buf[pos:n]
            n -= pos
            pos = 0
        mv = self._mv
        while n - pos < k:
            n += self._recv(mv[n:])
        return pos, n

    def _skip(self, end: int, n: int) -> tuple[int, int]:
        """Discard received bytes up to stream offset `end` (beyond the buffered `n`); the new
        (pos, n) with pos at `end`."""
        need = end - n
        mv = self._mv
        while True:
            got = self._recv(mv)
            if got >= need:
                return need, got
            need -= got

    def _error(self, pos: int, ln: int):
        self.err.raise_mysql_exception(bytes(self._buf[pos + 4:pos + 4 + ln]))

    def _packet(self, sql: str) -> bytes | None:
        """The COM_QUERY packet of sql (kept for the next time when short), None when too big for
        one packet."""
        data = sql.encode(self._encoding)
        if len(data) + 1 >= MAX_PACKET:
            return None
        pkt = _CMD.pack(len(data) + 1, 3) + data
        if self._keep and len(data) <= self.CACHE_LEN and len(self._packets) < self.CACHE_N:
            self._packets[sql] = pkt
        return pkt

    CACHE_LEN = 1024        # statements up to this many bytes ...
    CACHE_N = 4096          # ... and this many of them keep their packet

    def keep_packets(self) -> None:
        """Keep the packets of the statements sent (bounded): for a caller whose statements repeat
        (a load cycling a fixed list), not for one that makes every statement anew."""
        self._keep = True

    def query(self, sql: str) -> None:
        pkt = self._packets.get(sql) or self._packet(sql)
        if pkt is None:
            self.conn.query(sql)                  # rare huge statement: PyMySQL splits it
            return
        if self.conn._sock is None:
            raise self.err.InterfaceError(0, "")
        try:
            self._sendall(pkt)
        except OSError as e:
            try:
                self.conn._force_close()
            except Exception:
                pass
            raise self.err.OperationalError(2006, f"MySQL server has gone away ({e!r})") from None
        buf = self._buf
        try:
            n = self._recv_into(self._mv)
        except OSError as e:
            self._lost(f"Lost connection to MySQL server during query ({e})")
        # the usual reply, complete in one read: a result set or an OK, walked without the general
        # state machine below (which starts over from the first byte otherwise)
        rows = 0            # where the rows of a result set start, once its columns are walked
        lp = self._lp
        if lp and n > lp and buf.startswith(self._prefix):
            # the columns of the last result set again (a load repeats its statements): the prefix
            # is whole packets, so the same bytes walk the same way
            rows = lp
        elif n > 4:
            h = buf[4]
            pos = 4 + (buf[0] | buf[1] << 8 | buf[2] << 16)
            if 0 < h < 0xFB:
                left = h + 1                           # column definitions and their EOF
                while left and pos + 4 <= n:
                    pos += 4 + (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16)
                    left -= 1
                if not left and pos <= n:
                    self._prefix, self._lp = bytes(buf[:pos]), pos
                    rows = pos
            elif h == 0 and pos == n:
                _, i = _lenenc(buf, 5)
                _, i = _lenenc(buf, i)
                if i + 2 <= n and not (buf[i] | buf[i + 1] << 8) & MORE_RESULTS:
                    return
        elif not n:
            self._lost()
        if rows:
            pos = rows
            while pos + 9 <= n:
                ln = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
                b = buf[pos + 4]
                if b == 0xFE and ln < 9:                   # the EOF after the rows
                    if ln == 5 and pos + 9 == n and not (buf[pos + 7] | buf[pos + 8] << 8) & MORE_RESULTS:
                        return
                    break
                if b == 0xFF or ln == MAX_PACKET:
                    break
                pos += 4 + ln
        pos = 0
        state = 0           # 0: first packet of a result, 1: column definitions + EOF, 2: rows
        left = 0            # packets of state 1 still to skip
        cont = False        # the previous packet was 0xFFFFFF bytes: this one continues it
        while True:
            if n - pos < 5:
                pos, n = self._fill(pos, n, 4)
                buf = self._buf
            ln = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            end = pos + 4 + ln
            if cont or ln == 0:
                cont = ln == MAX_PACKET
            else:
                if n - pos < 5:
                    pos, n = self._fill(pos, n, 5)
                    buf = self._buf
                    end = pos + 4 + ln
                h = buf[pos + 4]
                if state == 2:
                    if h == 0xFE and ln < 9:                   # EOF after the rows
                        if end > n:
                            pos, n = self._fill(pos, n, 4 + ln)
                            buf = self._buf
                        status = buf[pos + 7] | buf[pos + 8] << 8 if ln >= 5 else 0
                        if not status & MORE_RESULTS:
                            return
                        pos = pos + 4 + ln
                        state = 0
                        continue
                    if h == 0xFF:
                        if end > n:
                            pos, n = self._fill(pos, n, 4 + ln)
                        self._error(pos, ln)
                    cont = ln == MAX_PACKET
                elif state == 1:
                    left -= 1
                    if not left:
                        state = 2
                elif h == 0x00 or h == 0xFF:                   # OK or ERR
                    if end > n:
                        pos, n = self._fill(pos, n, 4 + ln)
                        buf = self._buf
                    if h == 0xFF:
                        self._error(pos, ln)
                    p = bytes(buf[pos + 4:pos + 4 + ln])
                    _, i = _lenenc(p, 1)
                    _, i = _lenenc(p, i)
                    status = _STATUS.unpack_from(p, i)[0] if len(p) >= i + 2 else 0
                    if not status & MORE_RESULTS:
                        return
                    pos = pos + 4 + ln
                    continue
                elif h == 0xFB:
                    raise self.err.NotSupportedError(0, "LOAD DATA LOCAL INFILE is not supported by qlap")
                else:                                          # column count: a result set
                    if h < 0xFB:
                        ncols = h
                    else:
                        if end > n:
                            pos, n = self._fill(pos, n, 4 + ln)
                            buf = self._buf
                        ncols, _ = _lenenc(bytes(buf[pos + 4:pos + 4 + ln]), 0)
                    left = ncols + 1
                    state = 1
            if end <= n:
                pos = end
            else:
                pos, n = self._skip(end, n)
                buf = self._buf
