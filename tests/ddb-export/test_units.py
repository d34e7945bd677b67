"""The plain modules: DynamoDB JSON <-> plain JSON, item sizes, the budget, --plan's arithmetic,
the checkpoint's truncate-and-continue."""
from __future__ import annotations

import base64
import json
import random
from decimal import Decimal

import pytest
from ddb_export import ddbjson, plan
from ddb_export.budget import Budget
from ddb_export.checkpoint import CheckpointMismatch, State
from hypothesis import given, settings
from hypothesis import strategies as st

N38 = "12345678901234567890123456789012345678"


def test_plain_every_type():
    item = {"pk": {"S": "a\u00e9\"\n"}, "n": {"N": N38}, "neg": {"N": "-0.000000000000000000000000000000000001"},
            "b": {"B": base64.b64encode(b"\x00\xff").decode()}, "t": {"BOOL": True}, "f": {"BOOL": False},
            "z": {"NULL": True}, "ss": {"SS": ["b", "a", "C"]}, "ns": {"NS": ["10", "9", "-1.5", N38]},
            "bs": {"BS": [base64.b64encode(b"\x02").decode(), base64.b64encode(b"\x01\x00").decode()]},
            "l": {"L": [{"N": "1"}, {"M": {"x": {"L": []}, "y": {"M": {}}}}]}}
    text = ddbjson.plain_item(item)
    assert N38 in text and "1.2345678901234568e+37" not in text
    got = json.loads(text, parse_float=Decimal)
    assert got == {"pk": "a\u00e9\"\n", "n": int(N38), "neg": Decimal("-1E-36"), "b": "AP8=", "t": True,
                   "f": False, "z": None, "ss": ["C", "a", "b"], "ns": [Decimal("-1.5"), 9, 10, int(N38)],
                   "bs": ["AQA=", "Ag=="], "l": [1, {"x": [], "y": {}}]}
    assert text.startswith('{"pk":"a\\u00e9\\"\\n","n":' + N38 + ",")


def test_ddb_line_is_the_export_line_and_exact():
    item = {"pk": {"S": "k"}, "n": {"N": N38}}
    assert ddbjson.ddb_lines([item]) == ('{"Item":{"pk":{"S":"k"},"n":{"N":"' + N38 + '"}}}\n').encode()
    assert ddbjson.ddb_lines([]) == b""


@pytest.mark.parametrize("text,want", [("1E+3", "1E+3"), (".5", "0.5"), ("+7", "7"), ("-0", "-0"),
                                       ("00012", "12")])
def test_number_text(text, want):
    assert ddbjson.number_text(text) == want


def test_bad_values_are_format_errors():
    for v in ({"X": 1}, {"N": "abc"}, {"B": "!!"}, {"S": "a", "N": "1"}):
        with pytest.raises(ddbjson.FormatError):
            ddbjson.plain_value(v)


scalars = st.one_of(st.text(max_size=8), st.booleans(), st.none(), st.binary(max_size=8),
                    st.integers(-10**38 + 1, 10**38 - 1),
                    st.decimals(allow_nan=False, allow_infinity=False, places=5, min_value=-10**20, max_value=10**20))
values = st.recursive(scalars | st.frozensets(st.text(max_size=5), min_size=1, max_size=4)
                      | st.frozensets(st.integers(-10**38 + 1, 10**38 - 1), min_size=1, max_size=4),
                      lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
                      max_leaves=12)


def _expect(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, frozenset):
        return sorted(v)
    if isinstance(v, list):
        return [_expect(e) for e in v]
    if isinstance(v, dict):
        return {k: _expect(e) for k, e in v.items()}
    return v


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=6))
def test_roundtrip_python_ddb_plain(d):
    item = ddbjson.to_ddb_item(d)
    got = json.loads(ddbjson.plain_item(item), parse_float=Decimal, parse_int=Decimal)
    assert got == json.loads(json.dumps(_expect(d), default=str), parse_float=Decimal, parse_int=Decimal) or \
        _norm(got) == _norm(_expect(d))
    assert json.loads(ddbjson.ddb_lines([item]))["Item"] == item


def _norm(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, Decimal)):
        return Decimal(v)
    if isinstance(v, list):
        return [_norm(e) for e in v]
    return {k: _norm(e) for k, e in v.items()}


def test_item_size_rules():
    # names' UTF-8 lengths + values: S bytes, N 1 byte per 2 significant digits + 1, B bytes,
    # BOOL/NULL 1, L/M 3 + 1 per element + elements, sets the sum of their members
    assert ddbjson.item_size({"id": {"S": "abc"}}) == 2 + 3
    assert ddbjson.item_size({"é": {"S": "éé"}}) == 2 + 4
    assert ddbjson.item_size({"n": {"N": N38}}) == 1 + 19 + 1
    assert ddbjson.item_size({"n": {"N": "100"}}) == 1 + 1 + 1         # trailing zeros trimmed
    assert ddbjson.item_size({"b": {"B": base64.b64encode(b"12345").decode()}}) == 1 + 5
    assert ddbjson.item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert ddbjson.item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert ddbjson.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert ddbjson.item_size({"s": {"SS": ["ab", "c"]}, "x": {"NS": ["1", "22"]}}) == 2 + 3 + 2 + 2


def test_page_rcu():
    assert ddbjson.page_rcu(0, False) == 0.5
    assert ddbjson.page_rcu(4096, False) == 0.5
    assert ddbjson.page_rcu(4097, False) == 1.0
    assert ddbjson.page_rcu(4097, True) == 2.0
    assert ddbjson.page_rcu(1024 * 1024, False) == 128.0


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_budget_any_5s_window_and_the_average():
    clk = FakeClock()
    rate = 40.0
    b = Budget(rate, clock=clk, sleep=clk.sleep)
    rng = random.Random(7)
    sent = []
    est = 10.0
    for _ in range(400):
        b.acquire(est)
        # pages of one segment look alike (the estimate is the last page's charge); now and then
        # a short one (a segment's last page) or a big one (a 400 KB item)
        charge = rng.choice([0.5, 48.0]) if rng.random() < 0.03 else rng.uniform(9.0, 11.0)
        sent.append((clk.t, charge))
        b.settle(est, charge)
        est = charge
        clk.t += rng.random() * 0.05                      # the request's own time
    biggest = max(c for _, c in sent)
    for t0, _ in sent:
        window = sum(c for t, c in sent if t0 <= t < t0 + 5)
        assert window <= rate * 5 + biggest, (t0, window)
    total_time = sent[-1][0]
    assert 0.9 * rate <= sum(c for _, c in sent[:-1]) / total_time <= rate * 1.02


def test_budget_none_never_waits():
    clk = FakeClock()
    b = Budget(None, clock=clk, sleep=clk.sleep)
    for _ in range(10):
        b.acquire(100)
        b.settle(100, 100)
    assert clk.t == 0 and b.charged == 1000


def test_plan_the_posts_figure():
    assert plan.parse_size("20Gi") == 20 * 1024**3
    assert plan.parse_size("1.5K") == 1500 and plan.parse_size("512MiB") == 512 * 1024**2
    with pytest.raises(ValueError):
        plan.parse_size("20 parsecs")
    p = plan.plan(100_000_000, 20 * 1024**3, 1000, False)
    assert p["scan_minutes"] == 43.7 and p["avg_item_bytes"] == 215 and p["rcu"] == 1000
    assert plan.plan(100_000_000, 20 * 1024**3, 1000, True)["scan_minutes"] == 87.4


def _flush(s, where=None):
    s.flush()


def _write(s, data, where=None):
    s.write(data)


def test_checkpoint_truncates_what_it_does_not_cover(tmp_path):
    out, ck = str(tmp_path / "out.jsonl"), str(tmp_path / "ck")
    ident = {"table": "t", "segments": 2}
    st1 = State(ident, 2, None, out_file=out, ckpt_dir=ck, write_all=_write, flush=_flush)
    a, b = st1.segments
    st1.record(a, b"a1\na2\n", 2, {"pk": {"S": "a2"}})
    st1.record(b, b"b1\n", 1, None)
    st1.checkpoint()
    st1.record(a, b"a3\n", 1, {"pk": {"S": "a3"}})            # written, never checkpointed
    st1.outputs[0].stream.flush()
    assert open(out, "rb").read() == b"a1\na2\nb1\na3\n"
    st2 = State(ident, 2, None, out_file=out, ckpt_dir=ck, write_all=_write, flush=_flush)
    assert st2.resumed and open(out, "rb").read() == b"a1\na2\nb1\n"
    assert (st2.segments[0].key, st2.segments[0].done, st2.segments[1].done) == ({"pk": {"S": "a2"}}, False, True)
    st2.record(st2.segments[0], b"a3\n", 1, None)
    st2.checkpoint()
    st2.close()
    assert open(out, "rb").read() == b"a1\na2\nb1\na3\n"
    with pytest.raises(CheckpointMismatch):
        State({**ident, "segments": 3}, 3, None, out_file=out, ckpt_dir=ck, write_all=_write, flush=_flush)
