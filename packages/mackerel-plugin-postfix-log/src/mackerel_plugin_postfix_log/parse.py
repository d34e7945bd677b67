"""Postfix delivery lines -> delays by stage, DSN classes and delivery statuses.

A delivery line looks like
  ... postfix/smtp[123]: 4F2A...: to=<a@example.com>, relay=mx[1.2.3.4]:25, delay=1.2,
      delays=0.1/0.01/0.5/0.6, dsn=2.0.0, status=sent (250 ok)
One regex pass per chunk (literal prefix ` postfix/<agent>[`), counted with Counter; lines of the
agent that do not carry these fields (connect timeouts, "lost connection") are counted, not printed.
"""
from __future__ import annotations

import collections
import re

from mackerel_plugin_helper.stats import Sample

GROUPS = ("total", "recving", "queuing", "connection", "transmission")
AGENTS = ("smtp", "lmtp", "local", "virtual", "pipe")
CLASSES = ("2xx", "4xx", "5xx")
STATUSES = ("sent", "deferred", "bounced", "expired")


class Parser:
    def __init__(self, agents: list[str]):
        self.markers = [f" postfix/{a}[".encode() for a in agents]
        alt = b"|".join(re.escape(a.encode()) for a in agents)
        self.rx = re.compile(rb" postfix/(?:" + alt + rb")\[[^\n]*?, delay=([^,\n]*), delays=([^/,\n]*)/"
                             rb"([^/,\n]*)/([^/,\n]*)/([^,\n]*), dsn=([0-9])[^,\n]*(?:, status=([a-z]+))?")
        self.tuples: collections.Counter = collections.Counter()
        self.candidates = 0
        self.lines = 0

    def feed(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\n")
        self.candidates += sum(chunk.count(m) for m in self.markers)
        self.tuples.update(self.rx.findall(chunk))


def _num(v: bytes) -> float:
    try:
        f = float(v)
    except ValueError:
        return 0.0          # as upstream: an unparsable number counts as 0
    return f if f == f and f not in (float("inf"), float("-inf")) else 0.0


class Result:
    def __init__(self, p: Parser):
        self.delays = {g: Sample() for g in GROUPS}
        self.classes = dict.fromkeys(CLASSES, 0)
        self.statuses = dict.fromkeys(STATUSES, 0)
        self.total = 0
        for tup, n in p.tuples.items():
            for g, v in zip(GROUPS, tup[:5], strict=False):
                self.delays[g].add(_num(v), n)
            self.total += n
            cls = f"{tup[5].decode()}xx"
            if cls in self.classes:
                self.classes[cls] += n
            st = tup[6].decode()
            if st in self.statuses:
                self.statuses[st] += n
        self.unparsed = p.candidates - self.total
