"""Issue 13, lltsv items: --strict names the reason, -e keys printed without -k (--expr-keys),
--json-numbers, and the user's text shown as typed in messages."""
import json

import pytest


def test_strict_names_the_filter_and_the_reason(lltsv):
    r = lltsv(["--strict", "-f", "a > 0", "-k", "a", "-K"], b"a:1\na:z\n")
    assert r.rc == 1 and r.out == b"1\n"
    assert "lltsv: (stdin):2: numeric filter 'a > 0': 'z' is not a number" in r.err


def test_strict_names_a_missing_key(lltsv):
    r = lltsv(["--strict", "-f", "a >= 1", "-f", "b < 2"], b"a:1\tb:1\na:2\n")
    assert r.rc == 1
    assert "(stdin):2: numeric filter 'b < 2': key 'b' is missing" in r.err


@pytest.mark.parametrize("extra", [[], ["-k", "x"]])
def test_a_filter_on_a_key_holding_a_colon_names_it_missing(lltsv, extra):
    # "a:b" is no label (a label ends at the first ':'); both fast paths said so differently before
    r = lltsv([*extra, "-f", "a:b > 0"], b"x:1\ta:b:1\nx:2\ta:b:2\n" * 2000)
    assert r.out == b"" and "first: (stdin):1: missing key 'a:b'" in r.err


def test_strict_names_a_division_by_zero(lltsv):
    r = lltsv(["--strict", "-k", "q", "-e", "q = a / b"], b"a:1\tb:2\na:1\tb:0\n")
    assert r.rc == 1 and r.out == b"q:0.5\n"
    assert "(stdin):2: division by zero in -e 'q = a / b'" in r.err


def test_expr_keys_without_k(lltsv):
    # before: the computed key was printed only when -k named it
    r = lltsv(["-e", "ms = reqtime * 1000", "--expr-keys"], b"reqtime:0.25\tu:/a\nu:/b\n")
    assert (r.rc, r.out) == (0, b"reqtime:0.25\tu:/a\tms:250\nu:/b\tms:\n")


def test_expr_keys_after_k_keys_once(lltsv):
    r = lltsv(["-k", "u,ms", "-e", "ms = reqtime * 1000", "-e", "s = ms + 1", "--expr-keys", "-K"],
              b"reqtime:0.25\tu:/a\n")
    assert r.out == b"/a\t250\t251\n"
    # a name that is already a key of the line keeps its place
    r = lltsv(["-e", "u = 1", "--expr-keys"], b"u:/a\tv:2\n")
    assert r.out == b"u:1\tv:2\n"
    assert lltsv(["--expr-keys"], b"a:1\n").rc == 2


def test_json_numbers_are_typed(lltsv):
    data = b"reqtime:0.250\tstatus:200\tsize:-\tz:007\tbig:1e999\tneg:-1.5E3\tu:/a\n"
    r = lltsv(["--json-numbers", "-k", "reqtime,status,size,z,big,neg,u,nope"], data)
    assert r.rc == 0
    line = r.out.decode()
    assert line == ('{"reqtime":0.250,"status":200,"size":"-","z":"007","big":"1e999",'
                    '"neg":-1.5E3,"u":"/a","nope":null}\n')
    assert json.loads(line)["status"] == 200
    # plain --json keeps strings
    assert json.loads(lltsv(["--json", "-k", "status"], data).out) == {"status": "200"}


def test_json_numbers_with_computed_keys(lltsv):
    r = lltsv(["--json-numbers", "-e", "ms = reqtime * 1000", "--expr-keys", "-k", "reqtime"],
              b"reqtime:0.25\n")
    assert json.loads(r.out) == {"reqtime": 0.25, "ms": 250}


@pytest.mark.parametrize("expr,shown", [
    ("x =~ \\pL", "'x =~ \\pL': bad regular expression '\\pL'"),
    ("x > \\d", "'x > \\d': '\\d' is not a number"),
    ("x >> \\1", "unknown operator '>>'"),
])
def test_filter_errors_show_the_text_as_typed(lltsv, expr, shown):
    # before: repr() doubled every backslash ('\\\\pL')
    r = lltsv(["-f", expr], b"x:1\n")
    assert r.rc == 2
    assert shown in r.err
    assert "\\\\" not in r.err


def test_filter_errors_show_raw_bytes_escaped_once(lltsv):
    import os
    r = lltsv(["-f", os.fsdecode(b"x > \xff5")], b"x:1\n")
    assert r.rc == 2
    assert "invalid filter 'x > \\xff5': '\\xff5' is not a number" in r.err


def test_expression_errors_show_the_text_as_typed(lltsv):
    r = lltsv(["-e", "x = a \\ 2"], b"a:1\n")
    assert r.rc == 2
    assert "invalid expression 'x = a \\ 2': unexpected character '\\'" in r.err
