#!/usr/bin/env python3
"""Generate a reproducible web access log (LTSV by default, or NDJSON) for demos, tests, benchmarks.

    scripts/gen_access_log.py [-n LINES] [--seed N] [--format ltsv|json] [--start EPOCH] [-o FILE]

Each record has the 16 labels an nginx LTSV log usually carries (ltsv.org's recommended names):
time host forwardedfor req method uri protocol status size reqsize referer ua vhost reqtime
cache apptime. reqtime is log-normal around 50 ms with a heavy tail; about 1 % of apptime values
are "-" (nginx writes "-" when there was no upstream); statuses are mostly 200 with some
3xx/4xx/5xx and 499.
"""
import argparse
import json
import random
import sys
import time

URIS = ["/", "/login", "/logout", "/api/items", "/api/items/{id}", "/api/users/{id}", "/search?q={q}",
        "/static/app.js", "/static/style.css", "/images/{id}.png", "/cart", "/checkout"]
METHODS = ["GET"] * 8 + ["POST"] * 2 + ["PUT", "DELETE"]
STATUSES = [200] * 80 + [201, 204, 301, 302, 304, 304, 400, 403, 404, 404, 404, 499, 500, 502, 503, 504]
UAS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
       "curl/8.4.0", "Go-http-client/1.1", "isucandar"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def records(n: int, seed: int, start: int):
    rnd = random.Random(seed)
    for i in range(n):
        t = time.gmtime(start + i // 50)
        uri = rnd.choice(URIS).format(id=rnd.randrange(1, 100000), q=rnd.choice(["foo", "bar", "a%20b"]))
        method = rnd.choice(METHODS)
        status = rnd.choice(STATUSES)
        reqtime = min(rnd.lognormvariate(-3.0, 1.0), 60.0)
        apptime = "-" if rnd.random() < 0.01 else f"{reqtime * 0.9:.3f}"
        yield {
            "time": f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000",
            "host": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
            "forwardedfor": "-",
            "req": f"{method} {uri} HTTP/1.1",
            "method": method,
            "uri": uri,
            "protocol": "HTTP/1.1",
            "status": str(status),
            "size": str(rnd.randrange(0, 50000)),
            "reqsize": str(rnd.randrange(80, 2000)),
            "referer": "-",
            "ua": rnd.choice(UAS),
            "vhost": "example.com",
            "reqtime": f"{reqtime:.3f}",
            "cache": rnd.choice(["-", "HIT", "MISS"]),
            "apptime": apptime,
        }


def main() -> int:
    ap = argparse.ArgumentParser(prog="gen_access_log.py", description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--lines", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["ltsv", "json"], default="ltsv")
    ap.add_argument("--start", type=int, default=1767225600)  # 2026-01-01T00:00:00Z
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    out = open(a.output, "w", encoding="utf-8") if a.output else sys.stdout
    buf = []
    for rec in records(a.lines, a.seed, a.start):
        if a.format == "ltsv":
            buf.append("\t".join(f"{k}:{v}" for k, v in rec.items()))
        else:
            buf.append(json.dumps(rec, separators=(",", ":")))
        if len(buf) >= 10000:
            out.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
