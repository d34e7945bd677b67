"""Each upstream bug of spec §2 that we fix, with a test the upstream behaviour would fail."""
import pytest

SAMPLE = (b"reqtime:1\tstatus:200\turi:/foo\n"
          b"reqtime:2\tstatus:200\turi:/bar\n"
          b"reqtime:3\tstatus:500\turi:/baz\n")


def test_several_filters_on_one_key_are_all_applied(lltsv):
    # upstream keeps only the last filter per key and prints reqtime 1 and 2
    r = lltsv(["-f", "reqtime > 1", "-f", "reqtime < 3", "-k", "reqtime", "-K"], SAMPLE)
    assert r.out == b"2\n"


def test_several_filters_on_one_key_slow_path_too(lltsv):
    # a regex filter forces the per-record path
    r = lltsv(["-f", "reqtime > 1", "-f", "reqtime < 3", "-f", "uri =~ .", "-k", "reqtime", "-K"], SAMPLE)
    assert r.out == b"2\n"


def test_numeric_equality(lltsv):
    # upstream: string compare, so "1" never equals "1.0"
    data = b"reqtime:1\nreqtime:1.000\nreqtime:2\nreqtime:abc\n"
    assert lltsv(["-f", "reqtime == 1.0", "-k", "reqtime", "-K"], data).out == b"1\n1.000\n"
    assert lltsv(["-f", "reqtime != 1.0", "-k", "reqtime", "-K"], data).out == b"2\nabc\n"
    # a non-number RHS is a plain string compare
    assert lltsv(["-f", "reqtime == abc", "-k", "reqtime", "-K"], data).out == b"abc\n"


def test_case_insensitive_regex_does_not_lowercase_the_pattern(lltsv):
    # upstream lower-cases the pattern text: \S becomes \s and matches the space instead
    data = b"ua:a b\nua:a-b\n"
    assert lltsv(["-f", r"ua =~* ^A\SB$", "-k", "ua", "-K"], data).out == b"a-b\n"
    assert lltsv(["-f", r"ua =~* ^a\sb$", "-k", "ua", "-K"], data).out == b"a b\n"


@pytest.mark.parametrize("expr", ["reqtime >", "reqtime  > 1", "reqtime >> 1", "reqtime > abc",
                                  "uri =~ (", "uri =~* [a-", "uri !~ *x"])
def test_invalid_filter_is_a_usage_error(lltsv, expr):
    # upstream: silently dropped filter (double space, unknown op), exit 1, or a Go panic (exit 2
    # with a stack trace) for a bad regex
    r = lltsv(["-f", expr], SAMPLE)
    assert r.rc == 2, r
    assert r.out == b""
    assert "lltsv: error: invalid filter" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("expr", ["x", "x = a > 1", "x = (a", "x = foo(a)", "= a + 1", "x = a +"])
def test_invalid_expression_is_a_usage_error(lltsv, expr):
    r = lltsv(["-e", expr], b"a:1\n")
    assert r.rc == 2 and r.out == b"" and "lltsv: error: invalid expression" in r.err, r


def test_division_by_zero_gives_empty_value_and_one_warning(lltsv):
    data = b"a:1\tb:0\na:4\tb:2\na:3\tb:0\n"
    r = lltsv(["-k", "a,q", "-e", "q = a / b"], data)
    assert r.rc == 0
    assert r.out == b"a:1\tq:\na:4\tq:2\na:3\tq:\n"
    assert r.err.count("\n") == 1
    assert "2 results of a division by zero" in r.err and "(stdin):1" in r.err


def test_overflowing_result_gives_no_value_not_infinity(lltsv):
    # the decimal context overflows past 1e999999: it used to print "b:Infinity" (upstream: "unknown"),
    # while an infinite input already gave no value
    r = lltsv(["-k", "a,b,c", "-e", "b = a * 1e999999 * 10", "-e", "c = a * 2"], b"a:7\tb:x\n")
    assert r.rc == 0 and r.out == b"a:7\tb:x\tc:14\n"


@pytest.mark.parametrize("expr", ["uri =~ [[:alpha:]]+", "uri !~* ^[[:digit:]]", "uri =~ [a--b]",
                                  "uri =~ o{,2}", "uri !~ x{,}", "uri =~ \\\\{,1}"])
def test_regex_python_would_read_differently_is_a_usage_error(lltsv, expr, capfd):
    # RE2 reads [[:alpha:]] as a POSIX class; Python's re reads a set of '[', ':', 'a', ... and
    # only emits a FutureWarning (it leaked to stderr, and the filter silently matched otherwise).
    # RE2 reads x{,2} as literal text, Python as x{0,2}: silently different matches.
    r = lltsv(["-f", expr], SAMPLE)
    assert r.rc == 2 and r.out == b"" and "lltsv: error: invalid filter" in r.err
    assert "FutureWarning" not in r.err + capfd.readouterr().err


def test_regex_shorthand_classes_are_ascii_like_re2(lltsv):
    # Python's re on text made \\d match U+FF13 and \\w match "é"; RE2 (upstream) is ASCII-only
    data = "u:３\nu:é\nu:a\u00a0b\nu:7\n".encode()
    for pat, want in [(r"^\d$", b"7\n"), (r"^\w$", b"7\n"), (r"a\sb", b""), (r"^[\d]$", b"7\n"),
                      (r"^\W$", "３\né\n".encode()), (r"^[^\w]$", "３\né\n".encode()),
                      (r"\bé", b""), (r"\W", "３\né\na\u00a0b\n".encode()), (r"\D", "３\né\na\u00a0b\n".encode()),
                      (r"\S", data.replace(b"u:", b"")), (r"\s", b"")]:
        r = lltsv(["-f", "u =~ " + pat, "-k", "u", "-K"], data)
        assert (r.rc, r.out) == (0, want), pat
    # case folding stays Unicode for =~*
    assert lltsv(["-f", "u =~* ^ÉX$", "-k", "u", "-K"], "u:éx\n".encode()).out == "éx\n".encode()
    assert lltsv(["-f", r"u =~ [\W]"], data).rc == 2


def test_escaped_open_repeat_is_the_literal_text(lltsv):
    r = lltsv(["-f", "u =~ o\\{,2}", "-k", "u", "-K"], b"u:o{,2}\nu:oo\n")
    assert r.rc == 0 and r.out == b"o{,2}\n"


def test_expressions_run_in_the_given_order(lltsv):
    # upstream runs them in random map order: c is set only part of the time
    data = b"a:1\n" * 50
    r = lltsv(["-k", "a,b,c", "-e", "b = a + 1", "-e", "c = b + 1"], data)
    assert r.out == b"a:1\tb:2\tc:3\n" * 50


def test_same_name_twice_both_run_in_order(lltsv):
    r = lltsv(["-k", "x", "-K", "-e", "x = a + 1", "-e", "x = x * 10"], b"a:1\n")
    assert r.out == b"20\n"


@pytest.mark.parametrize("expr,value", [
    ("x = ptime * 1000", b"1234567500"),        # upstream: 1.23457e+09
    ("x = big * 1", b"1000000.5"),               # upstream: 1e+06
    ("x = tiny * 1", b"0.0000003"),              # upstream: 3e-07
    ("x = 1000 * 1000", b"1000000"),
    ("x = (ptime - uptime) * 1000", b"1234567500"),
    ("x = 1 / 3", b"0.33333333333333333"),
    ("x = 99999999999 * 99999999999", b"9999999999800000000001"),
    ("x = a - b", b"0.07"),                      # decimal, not 0.06999999999999999
])
def test_numbers_in_full_precision(lltsv, expr, value):
    data = b"ptime:1234567.5\tuptime:0\tbig:1000000.5\ttiny:0.0000003\ta:0.12\tb:0.05\n"
    assert lltsv(["-k", "x", "-K", "-e", expr], data).out == value + b"\n"


def test_modulo_with_record_values(lltsv):
    # upstream panics on % with a value from the line
    assert lltsv(["-k", "x", "-K", "-e", "x = a % 4"], b"a:7\n").out == b"3\n"


def test_unary_minus_and_functions(lltsv):
    data = b"a:-2.5\tb:3\n"
    for expr, want in [("x = -a", b"2.5"), ("x = abs(a)", b"2.5"), ("x = round(a)", b"-3"),
                       ("x = int(a)", b"-2"), ("x = round(b / 7, 3)", b"0.429"),
                       ("x = max(a, b, 1)", b"3"), ("x = min(a, b)", b"-2.5")]:
        assert lltsv(["-k", "x", "-K", "-e", expr], data).out == want + b"\n", expr


def test_no_64k_line_limit(lltsv):
    # upstream stops with "failed to process stdin." at 64 KiB
    big = b"x" * 200_000
    data = b"a:1\tbig:" + big + b"\na:2\n"
    r = lltsv(["-k", "a,big"], data)
    assert r.rc == 0
    assert r.out == b"a:1\tbig:" + big + b"\na:2\tbig:\n"


def test_no_line_limit_through_a_real_pipe(ours_bin, run_cmd):
    big = b"v" * (9 << 20)   # larger than one read chunk
    r = run_cmd([ours_bin, "-k", "b", "-K"], input=b"a:1\tb:" + big + b"\tc:2\nb:x\n")
    assert r.returncode == 0
    assert r.stdout == big + b"\nx\n"


def test_options_after_file_names(lltsv, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"a:1\tb:2\n")
    # upstream takes "-k" and "b" for file names
    assert lltsv([str(f), "-k", "b"]).out == b"b:2\n"


def test_dash_is_stdin(lltsv, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"a:1\n")
    r = lltsv([str(f), "-", str(f)], b"a:2\n")
    assert (r.rc, r.out) == (0, b"a:1\na:2\na:1\n")


def test_double_dash_ends_options(lltsv, tmp_path):
    f = tmp_path / "-k"
    f.write_bytes(b"a:1\n")
    import os
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert lltsv(["--", "-k"]).out == b"a:1\n"
    finally:
        os.chdir(old)


def test_unknown_option_exits_2(ours_bin, run_cmd):
    # upstream: "Incorrect Usage", help on stdout, exit 0
    r = run_cmd([ours_bin, "-z"])
    assert r.returncode == 2
    assert r.stdout == b""
    assert b"lltsv: " in r.stderr


def test_unreadable_file_others_still_processed(lltsv, tmp_path):
    # upstream stops at the first unreadable file
    a = tmp_path / "a"
    a.write_bytes(b"a:1\n")
    r = lltsv([str(tmp_path / "nope"), str(a), str(tmp_path)])
    assert r.rc == 1
    assert r.out == b"a:1\n"
    assert f"lltsv: {tmp_path / 'nope'}: No such file or directory" in r.err
    assert f"lltsv: {tmp_path}: Is a directory" in r.err


def test_non_numbers_in_numeric_filters_are_counted_not_spammed(lltsv):
    # upstream writes one timestamped log line per record
    data = b"reqtime:1\nreqtime:-\nreqtime:abc\nx:1\nreqtime:5\n"
    r = lltsv(["-f", "reqtime > 0", "-k", "reqtime", "-K"], data)
    assert r.rc == 0
    assert r.out == b"1\n5\n"
    lines = r.err.strip().splitlines()
    assert len(lines) == 1
    assert "3 records failed a numeric filter" in lines[0]
    assert "(stdin):2: 'reqtime:-'" in lines[0]


def test_strict_fails_on_non_numbers(lltsv):
    r = lltsv(["--strict", "-f", "reqtime > 0", "-k", "reqtime", "-K"], b"reqtime:1\nreqtime:-\nreqtime:3\n")
    assert r.rc == 1
    assert "(stdin):2" in r.err
    assert r.out == b"1\n"


def test_strict_fails_on_non_ltsv_lines(lltsv):
    assert lltsv(["--strict"], b"a:1\n\nb:2\n").rc == 0          # a blank line is an empty record
    r = lltsv(["--strict"], b"a:1\nhello world\nb:2\n")
    assert r.rc == 1
    assert "(stdin):2: not LTSV" in r.err
    assert r.out == b"a:1\n"      # the lines before the bad one are printed


def test_go_number_grammar_in_numeric_filters(lltsv):
    data = b"v:1e3\nv:0x1p4\nv: 5\nv:Inf\nv:1_000\nv:0x10\nv:1e400\n"
    r = lltsv(["-f", "v > 9", "-k", "v", "-K"], data)
    assert r.out == b"1e3\n0x1p4\nInf\n1_000\n"
    assert "3 records failed" in r.err


def test_strict_keeps_every_line_before_the_bad_one_in_a_big_chunk(lltsv):
    good = b"a:1\tb:2\n" * 5000
    r = lltsv(["--strict"], good + b"oops\n" + good)
    assert r.rc == 1
    assert r.out == good
    assert "(stdin):5001: not LTSV" in r.err
