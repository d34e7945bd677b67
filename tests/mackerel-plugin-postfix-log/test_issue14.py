"""Issue 14.12 for mackerel-plugin-postfix-log: --dry-run / --no-state through the installed
command on a real mail log."""
from __future__ import annotations

import pathlib
import sys

from support.mackerel import run_installed, snapshot

PROG = "mackerel-plugin-postfix-log"
EXE = str(pathlib.Path(sys.executable).parent / PROG)
LINE = (b"Nov 22 00:00:01 mx postfix/smtp[123]: 4F2A3: to=<a@example.com>, relay=mx[192.0.2.1]:25, "
        b"delay=1.2, delays=0.1/0.01/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")


def run(workdir, *args):
    return run_installed(EXE, workdir, *args)


def test_dry_run_reports_and_moves_no_position(tmp_path):
    w, log = tmp_path / "w", tmp_path / "maillog"
    log.write_bytes(LINE)
    r = run(w, "--logfile", log, "--dry-run")
    assert r.returncode == 0 and b"postfixlog.total_delay.average\t1.200000\t" in r.stdout
    assert not w.exists()
    run(w, "--logfile", log)
    with open(log, "ab") as f:
        f.write(LINE.replace(b"delay=1.2", b"delay=3.2") * 2)
    before = snapshot(w)
    for flag in ("--no-state", "-dry-run"):
        r = run(w, "--logfile", log, flag)
        assert b"postfixlog.total_delay.average\t3.200000\t" in r.stdout, r.stderr
    assert snapshot(w) == before
    assert b"postfixlog.total_delay.average\t3.200000\t" in run(w, "--logfile", log).stdout
