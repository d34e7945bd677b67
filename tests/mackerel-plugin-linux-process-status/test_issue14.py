"""Issue 14 for mackerel-plugin-linux-process-status through the installed command: the
key-prefix rule (item 11) and --dry-run / --no-state (12), against this test's own process."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

PROG = "mackerel-plugin-linux-process-status"


def run(workdir, *args):
    exe = pathlib.Path(sys.executable).parent / PROG
    env = {k: v for k, v in os.environ.items() if k != "MACKEREL_AGENT_PLUGIN_META"}
    env["MACKEREL_PLUGIN_WORKDIR"] = str(workdir)
    return subprocess.run([str(exe) if exe.exists() else shutil.which(PROG), *map(str, args)],
                          env=env, capture_output=True, timeout=60)


def test_key_prefix_outside_the_metric_charset_is_a_usage_error(tmp_path):
    r = run(tmp_path, "--pid", os.getpid(), "--key-prefix", "a b/c")
    assert r.returncode == 3 and r.stdout == b"" and b"cannot be part of a metric name" in r.stderr


def test_dry_run_saves_no_counters(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    pid = os.getpid()
    for flag in ("--dry-run", "--no-state"):
        r = run(w, "--pid", pid, "--key-prefix", "me", flag)
        assert r.returncode == 0, r.stderr
        assert b"process-status.mem_me.used\t" in r.stdout
        assert b"cpu_me" not in r.stdout           # never a previous sample: no CPU line
        assert list(w.iterdir()) == []
    assert run(w, "--pid", pid, "--key-prefix", "me").returncode == 0
    saved = {p.name: p.read_bytes() for p in w.iterdir()}
    assert saved
    r = run(w, "--pid", pid, "--key-prefix", "me", "--dry-run")
    assert b"process-status.cpu_me.percentage\t" in r.stdout       # uses the saved counters
    assert {p.name: p.read_bytes() for p in w.iterdir()} == saved     # and leaves them
