"""The progress line on stderr (only on a terminal) and the per-second series file of a load run."""
from __future__ import annotations

import json
import resource
import shutil
import sys
import time

from ._entry import WriteError


def process_cpu() -> float:
    """CPU seconds (user + system) of this process and of its waited-for children."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Progress:
    """`tick(elapsed, count, errors, cpu)` about once a second: a progress line on stderr when
    `show`, one JSON line in the series file when one is given. A failed write to the series file
    is a WriteError naming the file."""

    def __init__(self, nagents: int, show: bool, series_path: str | None, append: bool = False):
        self.nagents = nagents
        self.show = show
        self.last = 0
        self.last_t = 0.0
        self.series = open(series_path, "a" if append else "w", encoding="utf-8") if series_path else None
        self.shown = False
        self.last_cpu: float | None = None

    def tick(self, elapsed: float, count: int, errors: int, cpu: float | None = None) -> None:
        dt = elapsed - self.last_t or 1.0
        qps = (count - self.last) / dt
        cpu_pct = None
        if cpu is not None:
            if self.last_cpu is not None:
                cpu_pct = max(cpu - self.last_cpu, 0.0) / dt * 100
            self.last_cpu = cpu
        if self.series:
            self._series_line({"elapsed": round(elapsed, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "queries": count, "qps": round(qps, 1), "errors": errors,
                               "client_cpu_pct": None if cpu_pct is None else round(cpu_pct, 1)})
        if self.show:
            m, s = divmod(int(elapsed), 60)
            line = f"{m:02d}:{s:02d} | {self.nagents} agents / run {count} queries ({qps:.0f} qps)"
            if errors:
                line += f" / {errors} errors"
            if cpu_pct is not None:
                line += f" | client CPU {cpu_pct:.0f}%"
            width = shutil.get_terminal_size((80, 24)).columns
            sys.stderr.write("\r" + line.ljust(width - 1)[:max(width - 1, len(line))])
            sys.stderr.flush()
            self.shown = True
        self.last, self.last_t = count, elapsed

    def _series_line(self, rec: dict) -> None:
        try:
            self.series.write(json.dumps(rec) + "\n")
            self.series.flush()
        except OSError as e:
            raise WriteError(e.strerror or str(e), self.series.name) from None

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\n\n")
            sys.stderr.flush()
            self.shown = False
        if self.series:
            try:
                self.series.close()
            except OSError:         # the failed write was reported already
                pass
            self.series = None
