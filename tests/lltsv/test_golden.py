"""Upstream behaviour kept byte for byte (spec §2.3, §2.4, §2.8): sane input, piped output."""
import pytest

SAMPLE = (b"reqtime:1\tstatus:200\turi:/foo\n"
          b"reqtime:2\tstatus:200\turi:/bar\n"
          b"reqtime:3\tstatus:500\turi:/baz\n"
          b"reqtime:abc\tstatus:404\turi:/BAZ\n"
          b"status:301\turi:/qux\n")


def test_select_and_reorder(lltsv):
    r = lltsv(["-k", "baz,foo"], b"foo:aaa\tbar:bbb\tbaz:ccc\n")
    assert (r.rc, r.out) == (0, b"baz:ccc\tfoo:aaa\n")


def test_no_key_with_missing_key_keeps_the_column(lltsv):
    r = lltsv(["-k", "foo,nope,bar", "-K"], b"foo:aaa\tbar:bbb\tbaz:ccc\n")
    assert r.out == b"aaa\t\tbbb\n"


def test_non_ltsv_and_blank_lines_print_as_empty_records(lltsv):
    data = b"hello world\nfoo:1\n\n"
    assert lltsv([], data).out == b"\nfoo:1\n\n"
    assert lltsv(["-k", "foo"], data).out == b"foo:\nfoo:1\nfoo:\n"


def test_columns_without_colon_and_empty_label(lltsv):
    assert lltsv([], b"foo:1\tjunk\t:empty\tbar:\n").out == b"foo:1\t:empty\tbar:\n"


def test_value_split_at_first_colon(lltsv):
    assert lltsv(["-k", "time", "-K"], b"time:12:00:01\tx:1\n").out == b"12:00:01\n"


def test_a_key_holding_a_colon_matches_no_label(lltsv):
    # a label ends at the first ':', so `-k a:b` is a key no line has (Debian: "a:b:"), alone, with
    # another key, over many lines (the single-key column path) and as a filter
    one = b"x:1\ta:b:1\n"
    assert lltsv(["-k", "a:b"], one).out == b"a:b:\n"
    assert lltsv(["-k", "a:b,x"], one).out == b"a:b:\tx:1\n"
    assert lltsv(["-k", "a:b"], one * 3000).out == b"a:b:\n" * 3000
    assert lltsv(["-k", "a:b", "-K"], one * 3000).out == b"\n" * 3000
    assert lltsv(["-k", "x", "-f", "a:b == 1"], one * 3000).out == b""


def test_duplicate_labels_last_value_everywhere(lltsv):
    assert lltsv([], b"a:1\tb:2\ta:3\n").out == b"a:3\tb:2\ta:3\n"
    assert lltsv(["-k", "a"], b"a:1\tb:2\ta:3\n").out == b"a:3\n"


def test_key_list_repeats_and_is_not_trimmed(lltsv):
    assert lltsv(["-k", "a,a, b"], b"a:1\t b:2\tb:3\n").out == b"a:1\ta:1\t b:2\n"


def test_empty_key_list_means_all(lltsv):
    assert lltsv(["-k", ""], b"a:1\tb:2\n").out == b"a:1\tb:2\n"


def test_ignore_key(lltsv):
    assert lltsv(["-i", "b"], b"a:1\tb:2\tc:3\n").out == b"a:1\tc:3\n"
    assert lltsv(["-i", "b", "-K"], b"a:1\tb:2\tc:3\n").out == b"1\t3\n"
    # -i is ignored when -k is given
    assert lltsv(["-i", "a", "-k", "a"], b"a:1\tb:2\n").out == b"a:1\n"


def test_last_key_option_wins(lltsv):
    assert lltsv(["-k", "a", "-k", "b"], b"a:1\tb:2\n").out == b"b:2\n"


def test_filter_numeric(lltsv):
    r = lltsv(["-f", "reqtime <= 2"], SAMPLE)
    assert r.out == SAMPLE.split(b"\n", 2)[0] + b"\n" + SAMPLE.split(b"\n")[1] + b"\n"
    assert r.rc == 0


def test_filter_case_insensitive_regex(lltsv):
    r = lltsv(["-f", "uri =~* ^/BA", "-k", "uri", "-K"], SAMPLE)
    assert r.out == b"/bar\n/baz\n/BAZ\n"


def test_filters_and_exprs_together(lltsv):
    data = b"uri:/hoge\tptime:0.120\tuptime:0.050\n"
    r = lltsv(["-k", "uri,ptime,uptime,diff_ms", "-e", "diff_ms = (ptime - uptime) * 1000"], data)
    assert r.out == b"uri:/hoge\tptime:0.120\tuptime:0.050\tdiff_ms:70\n"
    r = lltsv(["-k", "uri,diff_ms", "-e", "diff_ms = (ptime - uptime) * 1000"],
              b"uri:/x\tptime:abc\tuptime:0\n")
    assert r.out == b"uri:/x\tdiff_ms:\n"


def test_expr_result_only_shown_when_selected_or_existing(lltsv):
    assert lltsv(["-e", "d = a * 2"], b"a:2\tb:1\n").out == b"a:2\tb:1\n"
    assert lltsv(["-e", "b = a * 2"], b"a:2\tb:1\n").out == b"a:2\tb:4\n"


def test_filter_sees_expression_results(lltsv):
    r = lltsv(["-k", "a", "-K", "-e", "d = a * 2", "-f", "d > 5"], b"a:2\na:3\n")
    assert r.out == b"3\n"


@pytest.mark.parametrize("op,expect", [
    ("==", [b"/foo"]), ("!=", [b"/bar", b"/baz", b"/BAZ", b"/qux"]),
    ("==*", [b"/foo"]), ("!=*", [b"/bar", b"/baz", b"/BAZ", b"/qux"]),
])
def test_string_operators(lltsv, op, expect):
    r = lltsv(["-f", f"uri {op} /FOO" if op.endswith("*") else f"uri {op} /foo", "-k", "uri", "-K"], SAMPLE)
    assert r.out.split() == expect


@pytest.mark.parametrize("op,expect", [
    ("=~", [b"/bar", b"/baz"]), ("!~", [b"/foo", b"/BAZ", b"/qux"]),
    ("=~*", [b"/bar", b"/baz", b"/BAZ"]), ("!~*", [b"/foo", b"/qux"]),
])
def test_regex_operators(lltsv, op, expect):
    assert lltsv(["-f", f"uri {op} ba", "-k", "uri", "-K"], SAMPLE).out.split() == expect


def test_missing_key_with_string_ops_compares_empty(lltsv):
    data = b"a:1\nb:2\n"
    assert lltsv(["-f", "a != 1"], data).out == b"b:2\n"
    assert lltsv(["-f", "a == "], data).out == b"b:2\n"


def test_filter_value_may_contain_spaces(lltsv):
    assert lltsv(["-f", "ua == curl 8"], b"ua:curl 8\nua:curl\n").out == b"ua:curl 8\n"


def test_files_in_order(lltsv, tmp_path):
    (tmp_path / "1").write_bytes(b"a:1\n")
    (tmp_path / "2").write_bytes(b"a:2\n")
    assert lltsv([str(tmp_path / "2"), str(tmp_path / "1")]).out == b"a:2\na:1\n"


def test_go_style_spellings(lltsv):
    data = b"foo:aaa\tbar:bbb\n"
    for args in (["-key", "bar"], ["--key", "bar"], ["-key=bar"], ["--key=bar"], ["--k", "bar"], ["-k=bar"]):
        assert lltsv(args, data).out == b"bar:bbb\n", args
    assert lltsv(["-key", "bar", "-no-key"], data).out == b"bbb\n"
    assert lltsv(["-k", "bar", "--K"], data).out == b"bbb\n"
    assert lltsv(["-k", "bar", "-no-key=false"], data).out == b"bar:bbb\n"
    assert lltsv(["-ignore-key", "foo"], data).out == b"bar:bbb\n"
    assert lltsv(["-filter", "foo == aaa", "-expr", "x = 1", "-k", "x"], data).out == b"x:1\n"


def test_a_key_value_may_start_with_a_dash(lltsv):
    assert lltsv(["-k", "-x"], b"-x:1\n").out == b"-x:1\n"
    # in every spelling Go accepts, and the value's own dashes are never renamed
    for args in (["--k", "-x"], ["-key", "-x"], ["--key", "-x"], ["--k=-x"]):
        assert lltsv(args, b"-x:1\n").out == b"-x:1\n", args
    assert lltsv(["-k", "--K"], b"--K:1\n").out == b"--K:1\n"
    # after --, everything is a file name
    assert lltsv(["-k", "a", "--", "--K"]).err == "lltsv: --K: No such file or directory\n"


def test_crlf(lltsv):
    assert lltsv(["-k", "b"], b"a:1\tb:2\r\na:3\tb:4\r\n").out == b"b:2\nb:4\n"
    assert lltsv([], b"a:1\r\na:2\r").out == b"a:1\na:2\n"
    # only one trailing CR is removed, like upstream
    assert lltsv([], b"a:1\r\r\n").out == b"a:1\r\n"


def test_last_line_without_newline(lltsv):
    assert lltsv(["-k", "a", "-K"], b"a:1\na:2").out == b"1\n2\n"


def test_invalid_utf8_passes_through(lltsv):
    data = b"a:\xff\xfe\tb\xc3:x\n"
    assert lltsv([], data).out == data
    assert lltsv(["-k", b"b\xc3".decode("utf-8", "surrogateescape")], data).out == b"b\xc3:x\n"


def test_empty_input(lltsv):
    assert lltsv([], b"") .out == b""
    assert lltsv(["-k", "a"], b"").out == b""


def test_version_spellings(ours_bin, run_cmd):
    for flag in ("--version", "-v", "-version"):
        r = run_cmd([ours_bin, flag])
        assert r.returncode == 0
        assert r.stdout.decode().startswith("lltsv 0."), r.stdout
    r = run_cmd([ours_bin, "-h"])
    assert r.returncode == 0 and b"--key" in r.stdout and b"=~*" in r.stdout
