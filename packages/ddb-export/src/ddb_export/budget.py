"""The read budget: one token bucket shared by every segment's worker.

Pay before: a worker reserves its page's estimated cost, and the bucket hands out start times so
that the reservations lie end to end on a time line at `rate` units per second, each one ending at
the moment its page may be sent; when the page is back, the difference between its charge (the
larger of the reported ConsumedCapacity and the tool's own figure) and the estimate moves the line.
So the charges of the pages sent in any window of T seconds add up to at most rate x T plus one
page, and the bucket never saves up idle time into a burst. The clock and the sleep are
parameters so the tests drive it without waiting.
"""
from __future__ import annotations

import threading
import time


class Budget:
    def __init__(self, rate: float | None, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate            # units per second; None = no budget
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.Lock()
        self.t_free = clock()       # when the bucket holds nothing reserved
        self.charged = 0.0

    def acquire(self, estimate: float) -> float:
        """Block until a page that should cost `estimate` may be sent; return its start time."""
        if self.rate is None:
            return self.clock()
        with self.lock:
            now = self.clock()
            start = max(now, self.t_free + estimate / self.rate)
            self.t_free = start
        if start > now:
            self.sleep(start - now)
        return start

    def settle(self, estimate: float, charge: float) -> None:
        """A page came back costing `charge` where `estimate` was reserved."""
        with self.lock:
            self.charged += charge
            if self.rate is not None:
                self.t_free += (charge - estimate) / self.rate
