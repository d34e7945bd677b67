"""Go's float grammar (spec §1.3), line by line."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from percentile.goparse import GoFloatError, parse_go_float, underscore_ok

ACCEPTED = {
    b"1": 1.0, b"+5": 5.0, b".5": 0.5, b"5.": 5.0, b"00012": 12.0, b"1.5E+3": 1500.0, b"1_0.5": 10.5,
    b"1_000": 1000.0, b"0x1.8p1": 3.0, b"0X1P-2": 0.25, b"0x.8p1": 1.0, b"0x_1p0": 1.0,
    b"1e-400": 0.0, b"-0": -0.0, b"1e1_0": 1e10, b"9007199254740993": 9007199254740992.0,
}
SPECIAL = [b"inf", b"Infinity", b"-INFINITY", b"+inf", b"NaN", b"nan", b"nAn"]
REJECTED = [b"-nan", b"+nan", b"0x10", b" 3", b"4 ", b"\t1", b"\xd9\xa3", b"\xef\xbc\x93", b"1__0", b"_1",
            b"1_", b"1e", b".", b"1d", b"1f", b"", b"infin", b"infinit", b"1_.5", b"1._5", b"1e_5",
            b"1_e5", b"0x", b"0x.p1", b"0xp1", b"0b101", b"1,5", b"--1", b"+-1", b"1e+", b"abc", b"0x1p",
            b"1.5.", b"1e5.0", b"nan1", b"0x1.8p1_", b"\x00"]


@pytest.mark.parametrize("text", list(ACCEPTED), ids=[t.decode() for t in ACCEPTED])
def test_accepted(text):
    v = parse_go_float(text)
    assert v == ACCEPTED[text]
    assert math.copysign(1, v) == math.copysign(1, ACCEPTED[text])


@pytest.mark.parametrize("text", SPECIAL, ids=[t.decode() for t in SPECIAL])
def test_specials(text):
    v = parse_go_float(text)
    if b"n" in text.lower()[:1] or text.lower() == b"nan":
        assert math.isnan(v)
    else:
        assert math.isinf(v) and (v < 0) == text.startswith(b"-")


@pytest.mark.parametrize("text", REJECTED, ids=[repr(t) for t in REJECTED])
def test_rejected(text):
    with pytest.raises(GoFloatError) as e:
        parse_go_float(text)
    assert e.value.reason == "invalid syntax"


@pytest.mark.parametrize("text", [b"1e400", b"-1e400", b"1" + b"0" * 400, b"0x1p2000", b"1_0e4_00"])
def test_out_of_range(text):
    with pytest.raises(GoFloatError) as e:
        parse_go_float(text)
    assert e.value.reason == "value out of range"


def test_underscore_rule():
    assert underscore_ok(b"1_000_000")
    assert underscore_ok(b"0x_1p0")
    assert not underscore_ok(b"1__0")
    assert not underscore_ok(b"_1")
    assert not underscore_ok(b"1_")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_repr_round_trips(x):
    assert parse_go_float(repr(x).encode()) == x


@given(st.from_regex(r"\A[+-]?[0-9]{1,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,3})?\Z"))
def test_plain_decimals_match_python(s):
    want = float(s)
    if math.isinf(want):
        with pytest.raises(GoFloatError):
            parse_go_float(s.encode())
    else:
        got = parse_go_float(s.encode())
        assert got == want and math.copysign(1, got) == math.copysign(1, want)
