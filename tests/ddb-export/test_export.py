"""ddb-export end to end: the console script as a subprocess against moto's DynamoDB server on
127.0.0.1 (AWS_ENDPOINT_URL, fake credentials)."""
from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from conftest import FAKE_ENV, make_table, put_all
from ddb_export.ddbjson import item_size

N38 = "12345678901234567890123456789012345678"


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "ddb-export"
    return str(p) if p.exists() else shutil.which("ddb-export")


def run(args, env, timeout=60):
    r = subprocess.run([exe(), *args], env=env, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode()


def summary(err: str) -> dict:
    return json.loads(err.strip().splitlines()[-1])


def every_type(i: int) -> dict:
    # boto3's client takes B/BS as raw bytes and base64-encodes them on the wire
    return {"pk": {"S": f"user#{i:04d}"}, "sk": {"N": str(i)}, "big": {"N": N38}, "neg": {"N": "-0.5"},
            "txt": {"S": "h\u00e9llo \"w\"\n"}, "bin": {"B": bytes([0, 255, i % 256])},
            "ss": {"SS": ["b", "a", "c"]}, "ns": {"NS": ["10", "9", "-1.25", N38]},
            "bs": {"BS": [b"\x02", b"\x01\x00"]}, "ok": {"BOOL": i % 2 == 0}, "nothing": {"NULL": True},
            "nested": {"M": {"list": {"L": [{"N": "1"}, {"S": "x"}, {"M": {"deep": {"L": []}}}]},
                             "empty": {"M": {}}}}}


def wire(item: dict) -> dict:
    """The item as DynamoDB JSON on the wire (bytes as base64 text)."""
    out = {}
    for k, v in item.items():
        (t, x), = v.items()
        if t == "B":
            out[k] = {"B": base64.b64encode(x).decode()}
        elif t == "BS":
            out[k] = {"BS": sorted(base64.b64encode(b).decode() for b in x)}
        elif t in ("SS", "NS"):
            out[k] = {t: sorted(x)}
        elif t == "M":
            out[k] = {"M": wire(x)}
        else:
            out[k] = v
    return out


def canon(item: dict) -> dict:
    return {k: ({next(iter(v)): sorted(next(iter(v.values())))} if next(iter(v)) in ("SS", "NS", "BS") else v)
            for k, v in item.items()}


def test_every_type_composite_keys_ddb_and_plain(aws_env, ddb):
    t = make_table(ddb, range_key=True)
    items = [every_type(i) for i in range(60)]
    put_all(ddb, t, items)
    rc, out, err = run([t, "--segments", "3", "--max-rcu", "1000"], aws_env)
    assert rc == 0, err
    got = [json.loads(x)["Item"] for x in out.splitlines()]
    assert sorted((canon(g) for g in got), key=lambda g: g["pk"]["S"]) == [canon(wire(i)) for i in items]
    s = summary(err)
    assert (s["items"], s["bytes"], s["result"]) == (60, len(out), "complete")
    assert err.count("\n") == 1               # stderr is no terminal: the summary only

    rc, out, err = run([t, "-o", os.devnull], aws_env)         # a special file: nothing to fsync
    assert rc == 0 and summary(err)["items"] == 60, err

    rc, out, err = run([t, "--format", "plain", "--unlimited"], aws_env)
    assert rc == 0, err
    assert f'"big":{N38},' in out.decode()    # the 38 digits, never through a float
    rows = sorted((json.loads(x, parse_float=Decimal) for x in out.splitlines()), key=lambda r: r["pk"])
    r = rows[7]
    assert r == {"pk": "user#0007", "sk": 7, "big": int(N38), "neg": Decimal("-0.5"), "txt": "h\u00e9llo \"w\"\n",
                 "bin": base64.b64encode(bytes([0, 255, 7])).decode(), "ss": ["a", "b", "c"],
                 "ns": [Decimal("-1.25"), 9, 10, int(N38)], "bs": ["AQA=", "Ag=="], "ok": False, "nothing": None,
                 "nested": {"list": [1, "x", {"deep": []}], "empty": {}}}


def test_empty_table_and_out_dir(aws_env, ddb, tmp_path):
    t = make_table(ddb)
    rc, out, err = run([t, "--segments", "3", "--out-dir", str(tmp_path / "o")], aws_env)
    assert rc == 0 and out == b"", err
    files = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert files == ["segment-00000.jsonl", "segment-00001.jsonl", "segment-00002.jsonl"]
    assert all((tmp_path / "o" / f).stat().st_size == 0 for f in files)
    assert (summary(err)["items"], summary(err)["budget_rcu"]) == (0, 50.0)     # half of the provisioned 100


def test_items_near_400kb_are_charged_by_their_size(aws_env, ddb):
    t = make_table(ddb)
    big = [{"pk": {"S": f"big{i}"}, "blob": {"B": os.urandom(390_000)}, "s": {"S": "x" * 5000}} for i in range(4)]
    for it in big:
        ddb.put_item(TableName=t, Item=it)
    rc, out, err = run([t, "--segments", "2", "--max-rcu", "2000"], aws_env)
    assert rc == 0, err
    got = {json.loads(x)["Item"]["pk"]["S"]: json.loads(x)["Item"] for x in out.splitlines()}
    assert {k: base64.b64decode(v["blob"]["B"]) for k, v in got.items()} == {
        i["pk"]["S"]: i["blob"]["B"] for i in big}
    # ~395 KB an item: ~48 units each by the size rules, where moto reports 1.0 a call
    s = summary(err)
    own = sum(len(i["blob"]["B"]) + 4 + 5000 + 1 + 2 + 4 for i in big) / 4096 * 0.5
    assert own > 190 and s["consumed_rcu"] >= own and s["pages"] <= 6
    rc, out2, err = run([t, "--segments", "2", "--max-rcu", "2000", "--consistent"], aws_env)
    assert rc == 0 and sorted(out2.splitlines()) == sorted(out.splitlines())
    assert summary(err)["consumed_rcu"] >= 2 * own                 # strongly consistent: twice the units


def test_unknown_table_on_demand_and_usage(aws_env, ddb, tmp_path):
    rc, out, err = run(["no-such-table"], aws_env)
    assert (rc, out) == (1, b"") and err == "ddb-export: table 'no-such-table' not found in us-east-1\n"
    od = make_table(ddb, on_demand=True)
    rc, _, err = run([od], aws_env)
    assert rc == 2 and "on demand" in err and "--max-rcu" in err
    rc, _, err = run([od, "--checkpoint", str(tmp_path)], aws_env)
    assert rc == 2 and "--checkpoint needs -o FILE or --out-dir DIR" in err
    rc, _, err = run([od, "--read-percent", "50"], aws_env)
    assert rc == 2 and "at most 1" in err


def test_plan_needs_no_aws(tmp_path):
    env = {**os.environ, **FAKE_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}   # nothing listens there
    rc, out, err = run(["--plan", "--bytes", "20Gi", "--items", "100000000", "--rcu", "1000",
                        "--read-percent", "1"], env)
    assert rc == 0, err
    assert json.loads(out) == {"items": 100000000, "bytes": 21474836480, "avg_item_bytes": 215, "rcu": 1000.0,
                               "consistent": False, "scan_minutes": 43.7}


def test_plan_from_describe_table(aws_env, ddb):
    t = make_table(ddb, rcu=10)
    put_all(ddb, t, [{"pk": {"S": str(i)}} for i in range(30)])
    rc, out, err = run([t, "--plan", "--bytes", "1Mi"], aws_env)      # moto's TableSizeBytes is 0
    assert rc == 0, err
    p = json.loads(out)
    assert (p["items"], p["rcu"], p["scan_minutes"]) == (30, 5.0, round(1024**2 / (5 * 8192 * 60), 1))


def test_help_imports_no_aws_module():
    code = ("import sys, runpy; sys.argv = ['ddb-export', '--help']\n"
            "try:\n    runpy.run_module('ddb_export.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('boto3', 'botocore', 'urllib3') if m in sys.modules], file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr


def _slow_table(ddb, n=1500):
    t = make_table(ddb, range_key=True)
    put_all(ddb, t, [{"pk": {"S": f"k{i % 7}"}, "sk": {"N": str(i)}, "pad": {"S": "p" * 1800}} for i in range(n)])
    return t, n


def _wait_for_output(p, path: pathlib.Path, timeout=20):
    """Until the export has written something (so a signal lands mid-export, not at start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        files = [path] if path.suffix else list(path.glob("*.jsonl"))
        if any(f.exists() and f.stat().st_size for f in files):
            return
        time.sleep(0.02)


def _keys(data: bytes) -> list[int]:
    return [int(json.loads(x)["Item"]["sk"]["N"]) for x in data.splitlines()]


@pytest.mark.parametrize("layout", ["file", "dir"])
def test_kill_9_and_resume_every_item_exactly_once(aws_env, ddb, tmp_path, layout):
    t, n = _slow_table(ddb)
    dest = ["-o", str(tmp_path / "out.jsonl")] if layout == "file" else ["--out-dir", str(tmp_path / "out")]
    args = [exe(), t, "--segments", "3", "--max-rcu", "300", "--checkpoint", str(tmp_path / "ck"), *dest]
    kills = 0
    for delay in (0.3, 0.05, 0.6):
        p = subprocess.Popen(args, env=aws_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_output(p, tmp_path / ("out.jsonl" if layout == "file" else "out"))
        time.sleep(delay)
        if p.poll() is None:
            p.kill()
            kills += 1
        p.wait(30)
    assert kills >= 2
    rc, _, err = run(args[1:], aws_env)
    assert rc == 0, err
    assert summary(err)["resumed"] is True
    if layout == "file":
        keys = _keys((tmp_path / "out.jsonl").read_bytes())
    else:
        keys = [k for f in sorted((tmp_path / "out").iterdir()) for k in _keys(f.read_bytes())]
    assert sorted(keys) == list(range(n))       # every item, exactly once
    # a rerun after completion adds nothing
    rc, _, err = run(args[1:], aws_env)
    assert rc == 0 and summary(err)["items"] == 0


def test_sigterm_and_sigint_leave_the_checkpoint_consistent(aws_env, ddb, tmp_path):
    t, n = _slow_table(ddb, 1000)
    out = tmp_path / "out.jsonl"
    args = [exe(), t, "--segments", "2", "--max-rcu", "300", "--checkpoint", str(tmp_path / "ck"), "-o", str(out)]
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        p = subprocess.Popen(args, env=aws_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for_output(p, out)
        time.sleep(0.3)
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        assert p.returncode == code, err
        s = json.loads(err.decode().strip().splitlines()[-1])
        assert s["result"] == "interrupted" and "Traceback" not in err.decode()
        ck = json.loads((tmp_path / "ck" / "ddb-export.checkpoint.json").read_text())
        assert ck["files"][str(out)] == out.stat().st_size      # everything written is covered
    rc, _, err = run(args[1:], aws_env)
    assert rc == 0, err
    assert sorted(_keys(out.read_bytes())) == list(range(n))
    rc, _, err = run([t, "--segments", "3", *args[4:]], aws_env)
    assert rc == 2 and "other arguments" in err


def test_rate_budget_measured(aws_env, ddb):
    """Items of ~8 KB (1 unit each by the size rules, where moto reports 1.0 a call): the charges of
    the lines that arrive in any 5 s stay within the budget plus one page, and the whole export
    runs at the budget, not far below it."""
    t = make_table(ddb)
    n = 360
    items = [{"pk": {"S": f"{i:05d}"}, "pad": {"S": "q" * 8180}} for i in range(n)]
    put_all(ddb, t, items)
    unit = {i["pk"]["S"]: item_size(i) / 4096 * 0.5 for i in items}
    budget = 120.0
    p = subprocess.Popen([exe(), t, "--segments", "3", "--max-rcu", str(budget)], env=aws_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    seen = []

    def read():
        for line in p.stdout:
            seen.append((time.monotonic() - t0, unit[json.loads(line)["Item"]["pk"]["S"]]))
    th = threading.Thread(target=read)
    th.start()
    err = p.stderr.read()
    th.join(60)
    assert p.wait(60) == 0, err
    s = json.loads(err.decode().strip().splitlines()[-1])
    assert len(seen) == n
    total = sum(u for _, u in seen)
    for start, _ in seen:                 # at or under the budget over any 5 s (+1: a unit's rounding)
        assert sum(u for t_, u in seen if start <= t_ < start + 5) <= budget * 5 + 1
    elapsed = seen[-1][0]
    assert total / elapsed <= budget * 1.1
    assert s["consumed_rcu"] / s["seconds"] <= budget * 1.05
    assert total / elapsed >= budget * 0.6, (total, elapsed)     # the limiter is not just slow


def test_progress_only_on_a_terminal(aws_env, ddb):
    import pty
    t, n = _slow_table(ddb, 500)
    master, slave = pty.openpty()
    p = subprocess.Popen([exe(), t, "--max-rcu", "60"], env=aws_env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    got = b""
    while True:
        try:
            d = os.read(master, 65536)
        except OSError:          # EIO: the child closed the terminal
            break
        if not d:
            break
        got += d
    os.close(master)
    assert p.wait(30) == 0
    text = got.decode()
    assert "\r\x1b[K" in text and "RCU/s of 60" in text and " items, " in text
    assert json.loads(text.strip().splitlines()[-1].split("\x1b[K")[-1])["items"] == n


def test_throttling_and_5xx_are_retried_and_counted(aws_env, ddb, monkeypatch):
    """moto never throttles: its Scan handler (in this process) is wrapped to answer a table's
    first pages with ProvisionedThroughputExceededException and one with a 500, as DynamoDB does."""
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    t = make_table(ddb)
    put_all(ddb, t, [{"pk": {"S": f"{i:03d}"}} for i in range(120)])
    real = DynamoHandler.scan
    answers = ["throttle", "throttle", "500", "throttle"]

    def scan(self):
        body = self.body if isinstance(self.body, dict) else json.loads(self.body)
        if body.get("TableName") == t and answers:
            kind = answers.pop(0)
            if kind == "500":
                e = DynamodbException("com.amazonaws.dynamodb.v20120810#InternalServerError", "injected")
                e.code = 500
                raise e
            raise DynamodbException("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                                    "The level of configured provisioned throughput for the table was exceeded.")
        return real(self)

    monkeypatch.setattr(DynamoHandler, "scan", scan)
    rc, out, err = run([t, "--segments", "2", "--max-rcu", "100"], aws_env)
    assert rc == 0, err
    assert sorted(json.loads(x)["Item"]["pk"]["S"] for x in out.splitlines()) == [f"{i:03d}" for i in range(120)]
    s = summary(err)
    assert (s["throttled"], s["retried"]) == (3, 4) and answers == []


def test_the_first_error_is_the_one_reported(aws_env, ddb, monkeypatch):
    # one segment meets a ValidationException while the other is retrying throttled pages: the
    # message names the ValidationException, not the other segment's "stopped while retrying"
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    t = make_table(ddb)
    put_all(ddb, t, [{"pk": {"S": f"{i:03d}"}} for i in range(50)])
    real = DynamoHandler.scan
    calls = []

    def scan(self):
        body = self.body if isinstance(self.body, dict) else json.loads(self.body)
        if body.get("TableName") != t:
            return real(self)
        calls.append(body.get("Segment"))
        if body.get("Segment") == 0 and calls.count(0) == 1:
            time.sleep(0.3)             # let segment 1 start retrying first
            raise DynamodbException("com.amazonaws.dynamodb.v20120810#ValidationException", "injected bad request")
        raise DynamodbException("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "slow down")

    monkeypatch.setattr(DynamoHandler, "scan", scan)
    rc, out, err = run([t, "--segments", "2", "--max-rcu", "100"], aws_env)
    assert rc == 1 and out == b""
    assert err.splitlines()[0] == f"ddb-export: scan {t!r}: ValidationException: injected bad request"
    assert summary(err)["result"] == "failed" and summary(err)["throttled"] >= 1


def test_reader_going_away_is_141_without_a_message(aws_env, ddb):
    t, _ = _slow_table(ddb, 500)           # ~1 MB of lines: more than a pipe holds
    p = subprocess.Popen([exe(), t, "--unlimited"], env=aws_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(p.stdout.readline())["Item"]
    p.stdout.close()
    err = p.stderr.read()
    assert (p.wait(30), err) == (141, b"")
