"""Structured logs on stderr: one LTSV or JSON line per record."""
from __future__ import annotations

import datetime
import json
import sys

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


def _clean(v) -> str:
    return str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")


class Logger:
    def __init__(self, fmt: str = "ltsv", level: str = "info", stream=None):
        self.fmt = fmt
        self.level = LEVELS[level]
        self.stream = stream if stream is not None else sys.stderr

    def log(self, level: str, msg: str, **kv) -> None:
        if LEVELS[level] < self.level:
            return
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        if self.fmt == "json":
            rec = {"time": now, "level": level, "msg": msg}
            rec.update({k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                        for k, v in kv.items()})
            line = json.dumps(rec, ensure_ascii=False)
        else:
            parts = [f"time:{now}", f"level:{level}", f"msg:{_clean(msg)}"]
            parts += [f"{k}:{_clean(v)}" for k, v in kv.items()]
            line = "\t".join(parts)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def debug(self, msg, **kv):
        self.log("debug", msg, **kv)

    def info(self, msg, **kv):
        self.log("info", msg, **kv)

    def warn(self, msg, **kv):
        self.log("warn", msg, **kv)

    def error(self, msg, **kv):
        self.log("error", msg, **kv)
