# The suite's daemon template logs.py: copied byte for byte from scripts/templates/daemon/logs.py into
# each server package that lists "daemon/logs" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""Structured log lines on stderr: one JSON object (zap's shape: level, ts, msg, fields) or one LTSV
record per line. A log write that fails (stderr closed, disk full) is dropped, never raised."""
from __future__ import annotations

import json
import sys
import time


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
