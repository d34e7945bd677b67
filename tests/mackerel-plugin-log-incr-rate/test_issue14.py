"""Issue 14 for mackerel-plugin-log-incr-rate through the installed command: --pattern errors name
the position in the user's pattern (item 13), the key-prefix rule (11), --dry-run (12)."""
from __future__ import annotations

import pathlib
import sys

import pytest
from support.mackerel import run_installed, snapshot

PROG = "mackerel-plugin-log-incr-rate"
EXE = str(pathlib.Path(sys.executable).parent / PROG)


def run(workdir, *args):
    return run_installed(EXE, workdir, *args)


@pytest.mark.parametrize("opt,pattern,where", [("--pattern", "(", "position 0"),
                                               ("--base-pattern", "ab[c", "position 2"),
                                               ("--pattern", "x{2,1}", "position 2")])
def test_pattern_error_names_the_position_in_the_users_pattern(tmp_path, opt, pattern, where):
    # before: the position in the internal wrapper ("(?m)^[^\n]*?(?:" + pattern + ...): 12 and on
    r = run(tmp_path / "w", "--log-file", "a", "--base-log-file", "b", "--key-prefix", "p", opt, pattern)
    assert r.returncode == 3 and r.stdout == b""
    err = r.stderr.decode().splitlines()[-1]
    assert err.startswith(f"{PROG}: error: {opt}: ") and err.endswith(where), err


def test_pattern_with_leading_inline_flags_counts_matching_lines(tmp_path):
    # before: "(?i)" inside the wrapper was "global flags not at the start": a usage error
    w = tmp_path / "w"
    log, base = tmp_path / "e.log", tmp_path / "a.log"
    log.write_bytes(b"ERROR one\nok\nerror two\n")
    base.write_bytes(b"GET /\nPOST /\n")
    assert run(w, "--log-file", log, "--base-log-file", base, "--key-prefix", "p",
               "--pattern", "(?i)error").returncode == 0
    with open(log, "ab") as f:
        f.write(b"Error three\nfine\n" * 10)
    with open(base, "ab") as f:
        f.write(b"GET /\n" * 40)
    r = run(w, "--log-file", log, "--base-log-file", base, "--key-prefix", "p", "--pattern", "(?i)error")
    m = {ln.split("\t")[0]: float(ln.split("\t")[1]) for ln in r.stdout.decode().splitlines()}
    assert m["log-incr-rate.p_rate.log"] == pytest.approx(10 / 40, rel=1e-3)


def test_key_prefix_outside_the_metric_charset_is_a_usage_error(tmp_path):
    r = run(tmp_path / "w", "--log-file", "a", "--base-log-file", "b", "--key-prefix", "a b/c")
    assert r.returncode == 3 and r.stdout == b"" and b"cannot be part of a metric name" in r.stderr


def test_dry_run_reports_and_moves_no_position(tmp_path):
    w = tmp_path / "w"
    log, base = tmp_path / "e.log", tmp_path / "a.log"
    log.write_bytes(b"e\n")
    base.write_bytes(b"a\n")
    args = ["--log-file", log, "--base-log-file", base, "--key-prefix", "p"]
    assert run(w, *args, "--dry-run").returncode == 0 and not w.exists()
    run(w, *args)
    with open(log, "ab") as f:
        f.write(b"e\n" * 3)
    with open(base, "ab") as f:
        f.write(b"a\n" * 12)
    before = snapshot(w)
    for flag in ("--dry-run", "--no-state"):
        r = run(w, *args, flag)
        assert r.returncode == 0 and b"log-incr-rate.p_rate.log\t0.250000\t" in r.stdout, r.stderr
    assert snapshot(w) == before
    assert b"log-incr-rate.p_rate.log\t0.250000\t" in run(w, *args).stdout
