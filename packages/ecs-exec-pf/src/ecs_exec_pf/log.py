"""Events on stderr: readable text by default, one JSON object per line with --log-format json."""
from __future__ import annotations

import json
import sys
import time


class Log:
    def __init__(self, fmt: str = "text", stream=None, debug: bool = False):
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self.debug_on = debug

    def event(self, name: str, message: str, **fields) -> None:
        if self.fmt == "json":
            rec = {"time": round(time.time(), 3), "event": name, "message": message, **fields}
            line = json.dumps(rec, separators=(",", ":"), default=str)
        else:
            line = f"ecs-exec-pf: {message}"
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def debug(self, name: str, message: str, **fields) -> None:
        if self.debug_on:
            self.event(name, message, **fields)
