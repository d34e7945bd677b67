"""--dump-tcp: the bytes of a connection as log lines (msg "dump", direction 1 = client to upstream,
2 = upstream to client, hex and an ASCII gutter), gathered per direction and written every 300 ms or
when a record is full, never more than DUMP_MAX bytes per line. The MySQL COM_PING packet (and the OK
answering it) is left out unless --dump-mysql-ping."""
from __future__ import annotations

MYSQL_PING = b"\x01\x00\x00\x00\x0e"
FLUSH_INTERVAL = 0.3
DUMP_MAX = 4096


def hex_bytes(data: bytes) -> str:
    return data.hex(" ")


def ascii_gutter(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def is_mysql_ok_reply(data: bytes) -> bool:
    """An OK packet with sequence id 1 (the answer to COM_PING): 3-byte length, seq 1, 0x00 header."""
    if len(data) < 5:
        return False
    ln = int.from_bytes(data[:3], "little")
    return len(data) == ln + 4 and data[3] == 1 and data[4] == 0x00


class Dumper:
    def __init__(self, logger, conn_id: str, directions: int, keep_ping: bool, loop=None, **fields):
        self.logger = logger
        self.conn_id = conn_id
        self.directions = directions            # 1: client->upstream only, 2: both
        self.keep_ping = keep_ping
        self.fields = fields
        self.buf = {1: bytearray(), 2: bytearray()}
        self.loop = loop
        self.timer = None
        self._ping_pending = False

    def feed(self, direction: int, data: bytes) -> None:
        if direction == 2 and self.directions < 2:
            return
        if not self.keep_ping:
            if direction == 1 and data == MYSQL_PING:
                self._ping_pending = True
                return
            if direction == 2 and self._ping_pending:
                self._ping_pending = False
                if is_mysql_ok_reply(data):
                    return
            elif direction == 1:
                self._ping_pending = False
        b = self.buf[direction]
        b += data
        while len(b) >= DUMP_MAX:
            self._emit(direction, bytes(b[:DUMP_MAX]))
            del b[:DUMP_MAX]
        if b and self.timer is None and self.loop is not None:
            self.timer = self.loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        self.timer = None
        for d in (1, 2):
            if self.buf[d]:
                self._emit(d, bytes(self.buf[d]))
                self.buf[d].clear()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.flush()

    def _emit(self, direction: int, data: bytes) -> None:
        self.logger.info("dump", **{"conn-id": self.conn_id, **self.fields, "direction": direction,
                                    "hex": hex_bytes(data), "ascii": ascii_gutter(data)})
