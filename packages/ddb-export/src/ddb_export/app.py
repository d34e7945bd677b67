"""The export: N segment workers (threads) scanning under one shared budget, the main thread
taking checkpoints, showing progress and handling SIGINT/SIGTERM."""
from __future__ import annotations

import json
import sys
import threading
import time

from . import _entry
from .budget import Budget
from .checkpoint import CheckpointError, CheckpointMismatch, State
from .ddbjson import ddb_lines, item_size, page_rcu, plain_lines
from .plan import plan

PROG = "ddb-export"
CHECKPOINT_EVERY = 1.0      # seconds
MAX_LIMIT = 100_000


def run(args, stdout=None, stderr=None) -> int:
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr.buffer
    if args.plan and args.items is not None and args.bytes is not None and (
            args.rcu is not None or args.max_rcu is not None):
        rcu = args.max_rcu if args.max_rcu is not None else args.rcu * args.read_percent
        return _print_plan(stdout, plan(args.items, args.bytes, rcu, args.consistent))

    t0 = time.monotonic()
    try:
        from .dynamo import AwsError, Dynamo
        try:
            db = Dynamo(args.region, args.profile, args.endpoint_url, pool=args.segments)
            table = db.describe(args.table)
        except AwsError as e:
            _entry.say(stderr, f"{PROG}: {e}\n")
            return 1
    except (KeyboardInterrupt, _entry.Terminated):
        if not args.plan:           # nothing read yet, nothing written: the summary says so
            _entry.say(stderr, json.dumps({"table": args.table, "result": "interrupted", "items": 0, "bytes": 0,
                                     "pages": 0, "consumed_rcu": 0, "throttled": 0,
                                     "seconds": round(time.monotonic() - t0, 3)}) + "\n")
        raise
    on_demand = table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
    provisioned = table.get("ProvisionedThroughput", {}).get("ReadCapacityUnits") or 0
    if args.rcu is not None:
        provisioned = args.rcu
    if args.unlimited:
        rate = None
    elif args.max_rcu is not None:
        rate = args.max_rcu
    elif on_demand and args.rcu is None:
        _entry.say(stderr, f"{PROG}: {args.table} is on demand (PAY_PER_REQUEST): no provisioned reads to take "
             "--read-percent of; give --max-rcu R\n")
        return 2
    else:
        rate = provisioned * args.read_percent
        if rate <= 0:
            _entry.say(stderr, f"{PROG}: {args.table}: no provisioned reads; give --max-rcu R\n")
            return 2
    items = table.get("ItemCount", 0) if args.items is None else args.items
    nbytes = table.get("TableSizeBytes", 0) if args.bytes is None else args.bytes
    if args.plan:
        return _print_plan(stdout, plan(items, nbytes, rate or 0, args.consistent))
    return Export(args, db, rate, items, nbytes, stdout, stderr).run()


def _print_plan(stdout, doc) -> int:
    _entry.write_all(stdout, (json.dumps(doc) + "\n").encode())
    return 0


PAGE_SECONDS = 0.25   # the largest page, in seconds of the budget
WINDOW = 5.0          # the budget holds over any window of this many seconds


class Export:
    def __init__(self, args, db, rate, items_hint, bytes_hint, stdout, stderr):
        self.args, self.db, self.rate = args, db, rate
        self.items_hint, self.bytes_hint = items_hint, bytes_hint
        self.stdout, self.stderr = stdout, stderr
        # pages are at most PAGE_SECONDS of the budget and the bucket runs that much under it, so
        # that the charges of any 5 s (rate x 5 plus the one page in flight) stay at or under it
        self.budget = Budget(None if rate is None else rate * (1 - PAGE_SECONDS / WINDOW))
        self.stop = threading.Event()
        self.error = None
        self.lock = threading.Lock()
        self.items = self.nbytes = self.pages = 0
        self.render = plain_lines if args.format == "plain" else ddb_lines
        self.unit = 1.0 if args.consistent else 0.5
        # a page should cost a quarter second of the budget, so that no 5 s window sees more than
        # the budget plus one small page; more (up to half a second) when the server is slow and
        # few segments are left, or the budget would go unused while each segment's one request
        # is in flight (see target())
        self.target_rcu = None if rate is None else max(self.unit, min(rate * PAGE_SECONDS, 128.0))
        self.active = args.segments
        self.latency = 0.0          # seconds a Scan takes, a moving average

    def target(self) -> float | None:
        """A page's cost: each of the `active` segments has one request in flight at a time, so to
        keep up with the budget a page must carry at least latency x budget / active units."""
        if self.rate is None:
            return None
        with self.lock:
            need = 1.5 * self.latency * self.rate / max(self.active, 1)
        return max(self.unit, min(max(self.target_rcu, need), self.rate * PAGE_SECONDS, 128.0))

    def _limit(self, avg):
        """(Scan Limit, the page's estimated cost) for items of `avg` bytes."""
        target = self.target()
        if target is None:
            return None, 0.0
        if avg is None:
            return 1, self.unit
        limit = max(1, min(MAX_LIMIT, int(target / self.unit * 4096 / max(avg, 1))))
        return limit, min(target, page_rcu(int(limit * avg), self.args.consistent))

    def worker(self, seg, state):
        a = self.args
        params = {"TableName": a.table, "ReturnConsumedCapacity": "TOTAL"}
        if a.segments > 1:
            params.update(Segment=seg.n, TotalSegments=a.segments)
        if a.consistent:
            params["ConsistentRead"] = True
        # the first page of a table whose size is unknown (moto; a new table) reads one item to learn it
        avg = (self.bytes_hint / self.items_hint) if self.items_hint and self.bytes_hint else None
        seen_items = seen_bytes = 0
        try:
            while not seg.done and not self.stop.is_set():
                # the estimate is what the Limit was sized for, not the last page's charge: one
                # 400 KB item would make the next reservation far too long, and time reserved but
                # not used is lost (the bucket never saves up)
                limit, estimate = self._limit(avg)
                if limit:
                    params["Limit"] = limit
                if seg.key is not None:
                    params["ExclusiveStartKey"] = seg.key
                else:
                    params.pop("ExclusiveStartKey", None)
                self.budget.acquire(estimate)
                t_req = time.monotonic()
                page = self.db.scan(params, self.stop)
                took = time.monotonic() - t_req
                got = page.get("Items", [])
                size = sum(map(item_size, got))
                reported = (page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0.0
                charge = max(float(reported), page_rcu(size, a.consistent))
                self.budget.settle(estimate, charge)
                if got:           # the segment's average so far: one 400 KB item does not shrink every page
                    seen_items += len(got)
                    seen_bytes += size
                    avg = seen_bytes / seen_items
                data = self.render(got)
                state.record(seg, data, len(got), page.get("LastEvaluatedKey"))
                with self.lock:
                    self.items += len(got)
                    self.nbytes += len(data)
                    self.pages += 1
                    self.latency = took if self.pages == 1 else 0.8 * self.latency + 0.2 * took
                    if seg.done:
                        self.active -= 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            with self.lock:
                if self.error is None:      # the first one: the others are "stopped while ..."
                    self.error = e
            self.stop.set()

    def run(self) -> int:
        a = self.args
        identity = {"table": a.table, "segments": a.segments, "format": a.format, "consistent": a.consistent,
                    "output": a.out_dir or a.output or "-"}
        try:
            state = State(identity, a.segments, self.stdout, a.output, a.out_dir, a.checkpoint,
                          _entry.write_all, _entry.flush)
        except CheckpointMismatch as e:
            _entry.say(self.stderr, f"{PROG}: {e}\n")
            return 2
        except CheckpointError as e:
            _entry.say(self.stderr, f"{PROG}: {e}\n")
            return 1
        self.active = sum(not s.done for s in state.segments)
        self.budget.t_free = self.budget.clock()      # no credit for the time spent starting up
        t0 = time.monotonic()
        tty = _isatty(self.stderr)
        threads = [threading.Thread(target=self.worker, args=(s, state), daemon=True, name=f"segment-{s.n}")
                   for s in state.segments if not s.done]
        rc = 0
        try:
            try:
                for t in threads:
                    t.start()
                last = time.monotonic()
                while any(t.is_alive() for t in threads):
                    threads[0].join(0.1) if len(threads) == 1 else time.sleep(0.1)
                    now = time.monotonic()
                    if now - last >= CHECKPOINT_EVERY:
                        last = now
                        state.checkpoint()
                        if tty:
                            self._progress(now - t0)
            finally:
                self.stop.set()
                for t in threads:
                    t.join(5.0)
                state.checkpoint()
                if tty:
                    _entry.say(self.stderr, "\r\x1b[K")
            if self.error is not None:
                raise self.error
        except (KeyboardInterrupt, _entry.Terminated):
            self._summary(state, t0, "interrupted")
            state.close()
            raise
        except Exception as e:
            from .dynamo import AwsError
            if not isinstance(e, (AwsError, CheckpointError)):
                raise
            _entry.say(self.stderr, f"{PROG}: {e}\n")
            rc = 1
        self._summary(state, t0, "complete" if rc == 0 else "failed")
        state.close()
        return rc

    def _progress(self, secs):
        with self.lock:
            items, nbytes = self.items, self.nbytes
        rcu_s = self.budget.charged / secs if secs else 0
        line = f"{items} items, {nbytes / 1e6:.1f} MB, {rcu_s:.1f} RCU/s"
        if self.rate:
            line += f" of {self.rate:g}"
        if self.items_hint and items:
            left = max(self.items_hint - items, 0) * secs / items
            line += f", ETA {int(left // 60)}m{int(left % 60):02d}s"
        _entry.say(self.stderr, "\r\x1b[K" + line)

    def _summary(self, state, t0, result):
        secs = time.monotonic() - t0
        doc = {"table": self.args.table, "result": result, "items": self.items, "bytes": self.nbytes,
               "pages": self.pages, "consumed_rcu": round(self.budget.charged, 1),
               "budget_rcu": self.rate, "throttled": self.db.throttled, "retried": self.db.retried,
               "seconds": round(secs, 3), "segments": self.args.segments, "resumed": state.resumed}
        _entry.say(self.stderr, json.dumps(doc) + "\n")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
