# The suite's daemon template logs.py: copied byte for byte from scripts/templates/daemon/logs.py into
# each server package that lists "daemon/logs" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""Structured log lines on stderr: one JSON object (zap's shape: level, ts, msg, fields) or one LTSV
record per line. A log write that fails (stderr closed, disk full) is dropped, never raised.

For a line per request on a busy server: Logger.fragment(key, value) formats one field once (a peer,
a decision that repeats), Logger.prepared(level, msg, ts, fragments) makes the line from the joined
fragments, byte for byte what Logger.line writes, and a Batch writes the lines of many requests in
one write, `delay` seconds after the first of them."""
from __future__ import annotations

import json
import sys
import time

_json_str = json.encoder.encode_basestring      # json.dumps(s, ensure_ascii=False) of a str


def _ltsv_value(v) -> str:
    if isinstance(v, (dict, list)):
        v = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    elif isinstance(v, float):
        v = f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Logger:
    def __init__(self, fmt: str = "json", stream=None):
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr.buffer

    def line(self, level: str, msg: str, **fields) -> bytes:
        rec = {"level": level, "ts": round(time.time(), 6), "msg": msg}
        rec.update((k, v) for k, v in fields.items() if v is not None)
        if self.fmt == "ltsv":
            text = "\t".join(f"{_ltsv_value(k)}:{_ltsv_value(v)}" for k, v in rec.items())
        else:
            text = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "backslashreplace") + b"\n"

    def fragment(self, key: str, value) -> str:
        """One field as line() writes it, to be joined and passed to prepared(): ',"key":value'
        (JSON) or '\\tkey:value' (LTSV); "" for None (line() leaves it out). Not for the keys level,
        ts and msg."""
        if self.fmt != "ltsv":
            t = type(value)
            if t is str:
                return f",{_json_str(key)}:{_json_str(value)}"
            if t is float and value - value == 0:      # finite (json.dumps writes NaN, Infinity)
                return f",{_json_str(key)}:{value!r}"
            if t is bool:
                return f",{_json_str(key)}:{'true' if value else 'false'}"
            if t is int:
                return f",{_json_str(key)}:{value!r}"
        if value is None:
            return ""
        if self.fmt == "ltsv":
            return f"\t{_ltsv_value(key)}:{_ltsv_value(value)}"
        return f",{_json_str(key)}:{json.dumps(value, separators=(',', ':'), ensure_ascii=False)}"

    def prepared(self, level: str, msg: str, ts: float, fragments: str) -> bytes:
        """The line that line(level, msg, **fields) writes at time ts (round(time.time(), 6)),
        with the fields given as the join of their fragment()s, in order."""
        if self.fmt == "ltsv":
            return (f"level:{_ltsv_value(level)}\tts:{_ltsv_value(ts)}\tmsg:{_ltsv_value(msg)}{fragments}\n"
                    ).encode("utf-8", "backslashreplace")
        return f'{{"level":{_json_str(level)},"ts":{ts!r},"msg":{_json_str(msg)}{fragments}}}\n'.encode(
            "utf-8", "backslashreplace")

    def log(self, level: str, msg: str, **fields) -> None:
        try:
            self.stream.write(self.line(level, msg, **fields))
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def info(self, msg: str, **fields) -> None:
        self.log("info", msg, **fields)

    def warn(self, msg: str, **fields) -> None:
        self.log("warn", msg, **fields)

    def error(self, msg: str, **fields) -> None:
        self.log("error", msg, **fields)


class Batch:
    """Lines written to a Logger's stream together: one write and flush `delay` seconds after the
    first pending line instead of one per line. With no loop bound (before bind(loop), after
    close()) a line is written at once. A timer rather than loop.call_soon: a pending callback makes
    the loop's next epoll_wait return at once, an extra system call per request. The server's run()
    calls close() on the way out, so that no line is lost."""

    def __init__(self, log: Logger, delay: float = 0.01):
        self.log = log
        self.delay = delay
        self.pending: list = []
        self.loop = None

    def bind(self, loop) -> None:
        self.loop = loop

    def close(self) -> None:
        """Write what is pending and write at once from now on."""
        self.flush()
        self.loop = None

    def add(self, line: bytes) -> None:
        self.pending.append(line)
        if len(self.pending) == 1:
            if self.loop is None:
                self.flush()
            else:
                self.loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        try:
            self.log.stream.write(data)
            self.log.stream.flush()
        except (OSError, ValueError):
            pass

    def line(self, level: str, msg: str, **fields) -> None:
        """Logger.line's line, in order with the pending ones."""
        self.add(self.log.line(level, msg, **fields))
