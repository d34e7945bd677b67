"""The suite's pipelines, end to end through real pipes, with every tool installed (contract env).

Each test needs its tools installed next to the interpreter; a tool not yet in the checkout skips.
"""
from __future__ import annotations

import collections
import hashlib
import json
import math
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def tool(name: str) -> str:
    p = BIN / name
    if not p.exists():
        pytest.skip(f"{name} is not installed in this environment")
    return str(p)


def sh(cmd: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, timeout=300,
                       env={"PATH": f"{BIN}:/usr/bin:/bin", "LC_ALL": "C"}, **kw)
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    return r


@pytest.fixture(scope="module")
def access_log(tmp_path_factory) -> pathlib.Path:
    p = tmp_path_factory.mktemp("logs") / "access.log"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_access_log.py"), "-n", "50000", "--seed", "11",
                    "-o", str(p)], check=True)
    return p


def rank_percentiles(values: list[float], ps=(99, 95, 90, 75)) -> dict[str, float]:
    """kazeburo/percentile's rule: index = round-half-up(n * p / 100) - 1 on the sorted values."""
    v = sorted(values)
    n = len(v)
    out = {}
    for p in ps:
        x = n * (p / 100)
        r = math.floor(x)
        if x - r >= 0.5:
            r += 1
        out[f"{p}pt"] = v[min(max(r, 1), n) - 1]
    return out


def parse_text(out: bytes) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.decode().splitlines())


def test_grep_lltsv_percentile(access_log):
    tool("lltsv")
    tool("percentile")
    r = sh(f"grep status:499 {access_log} | lltsv -K -k reqtime | percentile")
    assert r.returncode == 0, r.stderr
    got = parse_text(r.stdout)
    vals = [float(f.split(":", 1)[1]) for line in access_log.read_text().splitlines() if "status:499" in line
            for f in line.split("\t") if f.startswith("reqtime:")]
    assert got["count"] == str(len(vals))
    assert got["max"] == f"{max(vals):.4f}" and got["min"] == f"{min(vals):.4f}"
    for k, v in rank_percentiles(vals).items():
        assert got[k] == f"{v:.4f}", k
    assert list(got) == ["count", "max", "avg", "min", "99pt", "95pt", "90pt", "75pt"]


def test_percentile_k_equals_lltsv_pipe(access_log):
    tool("lltsv")
    tool("percentile")
    # apptime has "-" for requests without an upstream: both paths leave them out of the numbers
    a = sh(f"lltsv -K -k apptime {access_log} | percentile -q")
    b = sh(f"percentile -k apptime {access_log}")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout == b.stdout and a.stdout


def test_lltsv_filter_range_then_percentile(access_log):
    tool("lltsv")
    tool("percentile")
    r = sh(f"lltsv -k reqtime -K -f 'reqtime > 0.1' -f 'reqtime < 0.2' {access_log} | percentile")
    got = parse_text(r.stdout)
    assert 0.1 < float(got["min"]) and float(got["max"]) < 0.2


def test_jlsort_jluniq_counts(tmp_path):
    tool("jlsort")
    tool("jluniq")
    lines = [json.dumps({"emp_no": i, "to_date": f"19{90 + i % 7}-01-01", "salary": 40000 + i}) for i in range(5000)]
    f = tmp_path / "s.ndjson"
    f.write_text("\n".join(lines) + "\n")
    r = sh(f"jlsort -k to_date {f} | jluniq -k to_date -c")
    assert r.returncode == 0, r.stderr
    want = collections.Counter(json.loads(line)["to_date"] for line in lines)
    got = r.stdout.decode().splitlines()
    assert len(got) == len(want)
    for line, (k, n) in zip(got, sorted(want.items()), strict=True):
        assert k in line and str(n) in line


def test_sabo_passes_every_byte(tmp_path):
    tool("sabo")
    data = tmp_path / "data.bin"
    data.write_bytes(hashlib.sha256(b"seed").digest() * 200_000)  # 6.4 MB
    r = sh(f"cat {data} | sabo --max-bandwidth 50M --work-dir {tmp_path}/sabo --mkdir | sha256sum")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].decode() == hashlib.sha256(data.read_bytes()).hexdigest()


def test_relaxlogs_keeps_every_line(access_log, tmp_path):
    tool("relaxlogs")
    r = sh(f"cat {access_log} | relaxlogs --log-dir {tmp_path}/logs")
    assert r.returncode == 0, r.stderr
    written = b"".join(p.read_bytes() for p in sorted((tmp_path / "logs").glob("log.*")))
    assert written == access_log.read_bytes()
