import math

from hypothesis import given
from hypothesis import strategies as st
from sabo.group import decode_record, encode_record, fair_shares
from sabo.limiter import Limiter


def test_equal_split_when_everyone_is_hungry():
    assert fair_shares(30, [(1, math.inf)] * 3) == [10, 10, 10]


def test_idle_member_gives_its_share_back():
    # one member uses 1 of 100, the others split the rest (upstream: 50/50 regardless)
    s = fair_shares(100, [(1, 1.0), (1, math.inf)])
    assert s == [1.0, 99.0]


def test_weights():
    assert fair_shares(90, [(2, math.inf), (1, math.inf)]) == [60, 30]


@given(st.floats(min_value=1, max_value=1e9),
       st.lists(st.tuples(st.floats(min_value=0.1, max_value=10),
                          st.one_of(st.just(math.inf), st.floats(min_value=0, max_value=1e9))),
                min_size=1, max_size=12))
def test_fair_shares_properties(total, members):
    s = fair_shares(total, members)
    assert sum(s) <= total * (1 + 1e-9)
    for (_, d), x in zip(members, s, strict=True):
        assert 0 <= x <= d * (1 + 1e-9) + 1e-9
    if sum(d for _, d in members) >= total:
        assert math.isclose(sum(s), total, rel_tol=1e-9)
    # max-min: a member below its demand gets at least the weighted share of anyone else
    for (w, d), x in zip(members, s, strict=True):
        if x < d * (1 - 1e-9):
            for (w2, _), x2 in zip(members, s, strict=True):
                assert x / w >= x2 / w2 * (1 - 1e-9)


def test_record_roundtrip():
    rec = encode_record("/tmp/x y", 1000, 2.0, 500, 400, True)
    assert len(rec) == 256
    m = decode_record("n", 0, rec)
    assert (m.group, m.bw, m.weight, m.alloc, m.used, m.hungry) == ("/tmp/x y", 1000, 2.0, 500, 400, True)


def test_torn_or_foreign_record_means_unknown_member():
    assert decode_record("n", 7, b"").alloc is None
    assert decode_record("n", 7, b"sabo1 group=zz bw=1").alloc is None
    assert decode_record("n", 7, b"sabo1 group=61 bw=1 weight=1 alloc=5 used=1 hungry=1 pid=3").group is None


def test_burst_is_capped_after_idle():
    # pv#32: no unlimited credit. After 10 s idle the bucket holds at most 100 ms of the rate.
    t = [0.0]
    lim = Limiter(None, 1_000_000, "g", True, clock=lambda: t[0])
    lim.set_alloc(1_000_000, 0.0)
    t[0] = 10.0
    lim._fill(t[0])
    assert lim.tokens == 100_000
    lim2 = Limiter(None, 1_000_000, "g", True, burst=5000, clock=lambda: t[0])
    lim2.set_alloc(1_000_000, 10.0)
    t[0] = 20.0
    lim2._fill(t[0])
    assert lim2.tokens == 5000


def test_read_size_never_exceeds_what_the_bucket_can_grant():
    lim = Limiter(None, 32_000, "g", True)
    lim.set_alloc(32_000 / 31, 0.0)
    assert lim.burst < 32768   # upstream's fixed 32 KiB read would exceed it
    assert lim.burst >= 1


def _copy_in_process(data: bytes, rate: int, burst: int) -> bytes:
    import os
    import threading
    rin, win = os.pipe()
    rout, wout = os.pipe()
    got = []

    def feed():
        with os.fdopen(win, "wb") as f:
            f.write(data)

    def drain():
        with os.fdopen(rout, "rb") as f:
            got.append(f.read())

    threads = [threading.Thread(target=feed), threading.Thread(target=drain)]
    for t in threads:
        t.start()
    lim = Limiter(None, rate, "g", True, burst=burst, infd=rin, outfd=wout)
    rc = lim.run()
    os.close(rin)
    os.close(wout)
    for t in threads:
        t.join()
    assert rc == 0
    assert lim.total == len(data)
    return got[0]


from hypothesis import settings  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=5_000), st.integers(min_value=1, max_value=2000))
def test_output_is_the_input_whatever_the_burst(data, burst):
    # reads never exceed the bucket (burst), so tiny buckets mean many small reads: nothing lost
    assert _copy_in_process(data, 50_000_000, burst) == data
