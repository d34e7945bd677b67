"""Issue 14 for mackerel-plugin-pinging: the key-prefix rule of the five plugins (item 11),
--dry-run accepted (12; pinging keeps no state), and the README's exit status for "no ICMP socket"
stated once and equal to the code's (14)."""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

PROG = "mackerel-plugin-pinging"
README = pathlib.Path(__file__).parents[2] / "packages" / PROG / "README.md"


def run(*args, env=None):
    exe = pathlib.Path(sys.executable).parent / PROG
    full = {k: v for k, v in os.environ.items() if k != "MACKEREL_AGENT_PLUGIN_META"}
    full.update(env or {})
    return subprocess.run([str(exe) if exe.exists() else shutil.which(PROG), *map(str, args)],
                          env=full, capture_output=True, timeout=60)


def test_key_prefix_outside_the_metric_charset_is_a_usage_error():
    # before: exit 0, every metric line dropped (names not ^[-a-zA-Z0-9_.]+$), nothing pinged usefully
    r = run("--host", "127.0.0.1", "--key-prefix", "a b/c", "--count", "0", "--no-preflight")
    assert r.returncode == 3 and r.stdout == b"" and b"cannot be part of a metric name" in r.stderr


def test_dry_run_is_accepted(tmp_path):
    r = run("--host", "127.0.0.1", "--key-prefix", "x", "--dry-run",
            env={"MACKEREL_AGENT_PLUGIN_META": "1", "MACKEREL_PLUGIN_WORKDIR": str(tmp_path)})
    assert r.returncode == 0 and r.stdout.startswith(b"# mackerel-agent-plugin\n"), r.stderr
    assert list(tmp_path.iterdir()) == []


def test_readme_states_the_no_socket_exit_status_once_and_as_the_code():
    # before: the table said 3, COMPATIBILITY "the exit status is 1"; a ratio printed as None
    from mackerel_plugin_pinging.app import EXIT_NO_SOCKET
    text = README.read_text()
    rows = [ln for ln in text.splitlines() if re.match(r"\| [0-9]+ \|", ln) and "ICMP socket" in ln]
    assert len(rows) == 1 and rows[0].startswith(f"| {EXIT_NO_SOCKET} |"), rows
    prose = " ".join(ln for ln in text.splitlines() if not ln.startswith("|"))
    elsewhere = [s for s in re.split(r"(?<=[.;])\s+", " ".join(prose.split()))
                 if "socket" in s and re.search(r"exit (status|code)( is)? [0-9]|exits? (with )?[0-9]", s)]
    assert elsewhere == []
    for block in re.finditer(r"(?m)(?:^\|.*\|$\n?)+", text):      # no stray rows or cells
        lines = block.group(0).splitlines()
        assert len({ln.replace("\\|", "").count("|") for ln in lines}) == 1, lines
        assert not any("None" in ln for ln in lines), lines
