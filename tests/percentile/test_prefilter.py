"""Issue 16: numbers from a large regular file are filtered around windows planned from a pread
sample (reader.Prefiltered) instead of all kept. Whatever the sample says, the output must be
byte for byte the one of the plain path (every value kept, stdin not a file)."""
import io
import math
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from percentile import reader, stats
from percentile.cli import main


def run(args, data=None):
    out, err = io.BytesIO(), io.BytesIO()
    rc = main(list(args), stdin=io.BytesIO(data or b""), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def small(monkeypatch):
    """Prefilter files from 20 kB on, with a small sample, so that tests stay fast."""
    monkeypatch.setattr(reader.Prefiltered, "MIN_SIZE", 20_000)
    monkeypatch.setattr(reader.Prefiltered, "PIECES", 40)
    monkeypatch.setattr(reader.Prefiltered, "PIECE", 512)
    monkeypatch.setattr(reader.Prefiltered, "MIN_SAMPLE", 200)
    monkeypatch.setattr(reader, "BLOCK", 4096)
    monkeypatch.setattr(stats, "SORT_BELOW", 1000)
    monkeypatch.setattr(stats, "SAMPLE", 2000)
    taken = []
    real = reader.Prefiltered.plan.__func__

    def plan(cls, f, qs):
        got = real(cls, f, qs)
        taken.append(got is not None)
        return got
    monkeypatch.setattr(reader.Prefiltered, "plan", classmethod(plan))
    return taken


def same_as_plain(tmp_path, data: bytes, args=()):
    p = tmp_path / "nums.txt"
    p.write_bytes(data)
    want = run(args, data)            # stdin: a BytesIO, never prefiltered
    got = run([*args, str(p)])
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2].replace(str(p).encode(), b"<stdin>") == want[2]


SHAPES = {
    "lognormal": lambda r, n: [f"{r.lognormvariate(0, 1):.3f}" for _ in range(n)],
    "uniform": lambda r, n: [repr(r.random()) for _ in range(n)],
    "sorted": lambda r, n: [f"{x:.4f}" for x in sorted(r.random() for _ in range(n))],
    "reversed": lambda r, n: [f"{x:.4f}" for x in sorted((r.random() for _ in range(n)), reverse=True)],
    "signed": lambda r, n: [f"{r.gauss(0, 5):.2f}" for _ in range(n)],
    "drift": lambda r, n: [f"{i / n + r.random():.5f}" for i in range(n)],
    "zeros": lambda r, n: [r.choice(["0", "-0", "0.0", f"{r.random():.6f}"]) for _ in range(n)],
    "bad-lines": lambda r, n: [r.choice(["x", "", f"{r.expovariate(1):.3f}", "inf", "1e5"]) if r.random() < 0.02
                               else f"{r.expovariate(1):.3f}" for _ in range(n)],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("args", [(), ("-p", "50,99.9"), ("--method", "linear", "-p", "75,90"),
                                  ("--stats", "median,sum", "-p", "99"), ("-p", "1,99"), ("--json",)])
def test_prefiltered_file_prints_what_stdin_prints(tmp_path, small, shape, args):
    r = random.Random(zlib.crc32(repr((shape, args)).encode()))
    data = ("\n".join(SHAPES[shape](r, 12_000)) + "\n").encode()
    same_as_plain(tmp_path, data, args)


def test_the_prefilter_is_really_taken(tmp_path, small):
    r = random.Random(3)
    (tmp_path / "n").write_bytes(("\n".join(f"{r.random():.6f}" for _ in range(20_000)) + "\n").encode())
    assert run([str(tmp_path / "n")])[0] == 0
    assert small == [True]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300])), min_size=1, max_size=300),
       st.integers(2, 40), st.integers(0, 2 ** 32), st.floats(-40, 40), st.floats(0.1, 30))
def test_any_sample_gives_the_full_sort_answer(sample_src, reps, seed, mu, sd):
    """A Prefiltered built on an arbitrary (lying) sample, fed blocks of other values: the
    statistics equal those of the plain path (every value kept). The sample may lie below all
    the values (its minimum is then none of them), above, or anywhere between."""
    r = random.Random(seed)
    vals = [r.choice(sample_src) if r.random() < 0.02 else r.gauss(0, 10) for _ in range(reps * 50)]
    sample = sorted(r.gauss(mu, sd) for _ in range(3000))
    qs = [0.99, 0.9, 0.75, 0.5]
    clusters = stats.plan_windows(sample, qs)
    assert clusters is not None and clusters[0][0] >= 0
    pre = reader.Prefiltered(sample, clusters)
    for i in range(0, len(vals), 97):
        part = vals[i:i + 97]
        blk = "\n".join(repr(x) if not math.isinf(x) else ("+Inf" if x > 0 else "-Inf") for x in part).encode()
        pre.add(blk.replace(b"nan", b"NaN"), part)
    total = sum(vals)
    pcts = [stats.Pct(p, float(p), stats.Fraction(p) / 100) for p in ("99", "90", "75", "50")]
    want = stats.summarize(list(vals), total, pcts, "rank", ("median",))
    got = stats.summarize(pre, total, pcts, "rank", ("median",))
    assert repr(got) == repr(want)
