"""Start-up cost: the fast option parser agrees with argparse, the cleanup's own glob agrees with
glob.glob, and a plain run imports neither argparse nor re (nor glob, shutil, enum)."""
import glob
import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relaxlogs.cli import OPTIONS, build_parser, fast_parse
from relaxlogs.rotator import match_glob, pattern_glob

HEAVY = ("argparse", "re", "glob", "fnmatch", "shutil", "enum", "gettext", "locale")


def test_plain_run_imports_no_heavy_module(tmp_path):
    code = ("import sys; from relaxlogs.cli import main; rc = main(sys.argv[1:]); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); sys.exit(rc)")
    for args in (["--log-dir", str(tmp_path / "a")],
                 ["-log-dir", str(tmp_path / "b"), "-rotation-time", "1440", "-max-age", "10080",
                  "-with-time"],
                 [f"--log-dir={tmp_path / 'c'}", "--max-size", "100M", "--keep", "3", "--tz", "UTC",
                  "--fsync", "rotate", "--time-format=rfc3339"]):
        r = subprocess.run([sys.executable, "-c", code, *args], input=b"a\r\nb\n", capture_output=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"[]\n", (args, r.stdout)
    assert (tmp_path / "a").is_dir() and (tmp_path / "c").is_dir()


def test_unusual_lines_still_go_through_argparse(capsys):
    assert fast_parse(["--help"]) is None
    assert fast_parse(["--retry", "-1"]) is None          # a value that looks like an option
    assert fast_parse(["--log"]) is None                  # abbreviations are refused (allow_abbrev)
    assert fast_parse(["--max-size", "10Q"]) is None
    assert fast_parse(["--tee=1"]) is None
    assert fast_parse(["--fsync", "always"]) is None
    assert fast_parse(["--log-dir"]) is None
    assert vars(fast_parse(["--retry=-1"]))["retry"] == -1


def _arg_for(opt):
    names, dest, conv, choices, default, _, _ = opt
    name = st.sampled_from(names)
    if conv is None:
        return name.map(lambda n: [n])
    if choices:
        val = st.sampled_from(list(choices) + ["bogus"])
    elif conv is str:
        val = st.text(st.sampled_from("ab%Y/.=-_ 09"), max_size=6)
    else:
        val = st.one_of(st.integers(-5, 5000).map(str), st.sampled_from(["1.5", "10K", "2m", "x", "", "-0",
                                                                          "1e3", "nan", "a/", "5G"]))
    return st.tuples(name, val, st.booleans()).map(
        lambda t: [f"{t[0]}={t[1]}"] if t[2] else [t[0], t[1]])


ARGV = st.lists(st.one_of([_arg_for(o) for o in OPTIONS] + [st.sampled_from([["-v"], ["--log"], ["x"],
                                                                            ["--"]])]),
                max_size=6).map(lambda parts: [a for p in parts for a in p])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ARGV)
def test_fast_parse_agrees_with_argparse(argv):
    fast = fast_parse(argv)
    if fast is None:
        return
    ap = build_parser()
    try:
        ref = ap.parse_args(argv)
    except SystemExit as e:     # fast_parse must never accept what argparse refuses
        pytest.fail(f"fast_parse accepted {argv!r}, argparse exits {e.code}")
    assert vars(fast) == vars(ref)


def test_fast_parse_takes_the_common_lines():
    for argv in ([], ["--log-dir", "/x"], ["-log-dir", "/x", "-rotation-time", "60", "-max-age", "0", "-with-time"],
                 ["--log-dir=/x", "--compress", "gzip", "--post-rotate", "echo", "--lock", "--tee"]):
        fast = fast_parse(argv)
        assert fast is not None and vars(fast) == vars(build_parser().parse_args(argv))


def _old_pattern_glob(pattern):   # the regex version it replaces
    parts = re.split(r"(%[-_0^#]?[A-Za-z%])", pattern)
    out = [("%" if p == "%%" else "*") if i % 2 else glob.escape(p) for i, p in enumerate(parts)]
    return re.sub(r"\*+", "*", "".join(out))


@given(st.text(st.sampled_from("%%%-_0^#YmdHM%a*?[]./x"), max_size=14))
def test_pattern_glob_as_the_regex_version(pattern):
    assert pattern_glob(pattern) == _old_pattern_glob(pattern)


NAMES = st.one_of(st.sampled_from(["log.1", "log.1.1", "log.x.gz", ".log.1", "log.1.gz.tmp", "1", "l1g.x", "log.[1]",
                                   "log.*", "1.x.gz.tmp"]),
                  st.text(st.sampled_from("log.1x*?[]"), min_size=1, max_size=6).filter(lambda n: n not in (".", "..")))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.lists(st.tuples(st.sampled_from(["", "d/", "log.d/", ".h/", "log.d/e/"]), NAMES,
                               st.sampled_from(["file", "dir", "link"])), max_size=12),
       pattern=st.one_of(st.sampled_from(["log.%Y", "%Y", "%d/log.%Y", "log.%d/%Y", "%Y/%d/x", "log.%d/e/%Y",
                                          "l%Yg.%d", "%Y*", "%Y.%d", "log.d/%d", "d/log.%Y"]),
                         st.text(st.sampled_from("%Y%dlog.*x/1[?]"), min_size=1, max_size=10)),
       suffix=st.sampled_from(["", ".*", ".gz.tmp", ".*.gz.tmp"]))
def test_match_glob_as_glob_glob(tmp_path_factory, tree, pattern, suffix):
    root = tmp_path_factory.mktemp("g")
    for d, name, kind in tree:
        p = root / d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(p):
            continue
        if kind == "file":
            p.write_bytes(b"")
        elif kind == "dir":
            p.mkdir()
        else:
            p.symlink_to("log.d")
    pat = pattern_glob(str(root / pattern.strip("/"))) + suffix
    assert sorted(match_glob(pat)) == sorted(glob.glob(pat))
