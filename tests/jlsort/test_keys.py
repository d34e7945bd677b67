"""Key specs, key paths and the documented order, tested directly."""
from __future__ import annotations

from decimal import Decimal

import pytest
from jlsort.keys import KeySpecError, norm, norm_num, parse_keyspec, parse_path


@pytest.mark.parametrize("text,path", [
    ("to_date", ("to_date",)),
    ("a.b.c", ("a", "b", "c")),
    ("a[0]", ("a", 0)),
    ("a[0].b", ("a", 0, "b")),
    ("a.0", ("a", 0)),
    ("a[-1]", ("a", -1)),
    ('"a.b".c', ("a.b", "c")),
    ('a["x.y"]', ("a", "x.y")),
    ('"a\\"b"', ('a"b',)),
    ("/a/b", ("a", "b")),
    ("/a~1b/c~0d", ("a/b", "c~d")),
    ("/", ("",)),
    ("0", ("0",)),
    ("with space", ("with space",)),
])
def test_parse_path(text, path):
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["", "a.", ".a", "a..b", '"a', "a[", "a[x]", 'a"b"'])
def test_parse_path_errors(text):
    with pytest.raises(KeySpecError):
        parse_path(text)


def test_keyspec_flags():
    s = parse_keyspec("salary:n:r")
    assert (s.path, s.mode, s.desc) == (("salary",), "num", True)
    s = parse_keyspec("to_date")
    assert (s.mode, s.desc) == ("auto", False)
    s = parse_keyspec("x:num:desc")
    assert (s.mode, s.desc) == ("num", True)
    s = parse_keyspec("x:N")
    assert s.mode == "num"  # N: the same as n (numeric strings are numbers in both)
    # global -n -r are the defaults of every key, flags override them
    s = parse_keyspec("x:s:a", numeric=True, reverse=True)
    assert (s.mode, s.desc) == ("auto", False)
    # an unknown flag is an error (it was taken as part of the name); a name holding ':' is quoted
    with pytest.raises(KeySpecError, match="unknown flag 'b'"):
        parse_keyspec("a:b")
    s = parse_keyspec('"t:n"')
    assert s.path == ("t:n",) and s.mode == "auto"


def test_norm_order_of_types():
    vals = [None, False, True, -5, Decimal("0.5"), 1, 10 ** 30, "", "a", "b", [], [None], [1],
            {}, {"a": 1}, {"a": 2}, {"a": 1, "b": 0}, {"b": 0}]
    keys = [norm(v) for v in vals]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert norm(1) == norm(Decimal("1.0"))
    assert hash(norm(1)) == hash(norm(Decimal("1.00")))


def test_norm_num_numbers_first():
    vals = [None, "1", True, 5, Decimal("-1e5"), [1], "x"]
    assert sorted(vals, key=norm_num) == [Decimal("-1e5"), "1", 5, None, True, "x", [1]]
