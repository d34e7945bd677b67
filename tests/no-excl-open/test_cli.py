"""no-excl-open's command line: exec with the shim, exit statuses, --print-path, usage errors."""
from __future__ import annotations

import importlib.metadata
import io
import os
import pathlib
import subprocess

from conftest import exe
from no_excl_open.cli import main
from no_excl_open.preload import preload_env


def test_print_path_in_process():
    out, err = io.BytesIO(), io.BytesIO()
    assert main(["--print-path"], stdout=out, stderr=err) == 0
    p = pathlib.Path(out.getvalue().decode().strip())
    assert p.is_absolute() and p.is_file() and p.name == "libnoexclopen.so"
    assert p.read_bytes()[:4] == b"\x7fELF"


def test_runs_the_command_with_its_arguments_and_status(tmp_path):
    r = subprocess.run([exe(), "sh", "-c", 'printf "%s|" "$@"; exit 7', "sh", "-x", "--print-path", "a b"],
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (7, b"-x|--print-path|a b|", b"")


def test_double_dash_before_the_command():
    r = subprocess.run([exe(), "--", "sh", "-c", "exit 3"], capture_output=True, timeout=30)
    assert r.returncode == 3, r


def test_command_not_found_and_not_executable(tmp_path):
    r = subprocess.run([exe(), "no-such-command-xyzzy"], capture_output=True, timeout=30)
    assert r.returncode == 127
    assert r.stderr == b"no-excl-open: no-such-command-xyzzy: No such file or directory\n"
    f = tmp_path / "notexec"
    f.write_text("#!/bin/sh\n")
    os.chmod(f, 0o644)
    r = subprocess.run([exe(), str(f)], capture_output=True, timeout=30)
    assert r.returncode == 126 and r.stderr == f"no-excl-open: {f}: Permission denied\n".encode(), r


def test_usage_errors():
    for argv in ([], ["--print-path", "ls"], ["--no-such-option"]):
        r = subprocess.run([exe(), *argv], capture_output=True, timeout=30)
        assert r.returncode == 2 and b"no-excl-open: error: " in r.stderr, (argv, r)


def test_version():
    r = subprocess.run([exe(), "--version"], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith(b"no-excl-open "), r


def test_preload_env_keeps_what_was_preloaded():
    assert preload_env({"A": "1"}, "/x/s.so") == {"A": "1", "LD_PRELOAD": "/x/s.so"}
    assert preload_env({"LD_PRELOAD": "/y/o.so"}, "/x/s.so")["LD_PRELOAD"] == "/x/s.so /y/o.so"


def test_the_wheel_claims_no_python_abi():
    wheel = importlib.metadata.distribution("no-excl-open").read_text("WHEEL")
    tags = [ln.split(":", 1)[1].strip() for ln in wheel.splitlines() if ln.startswith("Tag:")]
    assert tags and all(t.startswith("py3-none-linux_") for t in tags), tags
    assert "Root-Is-Purelib: false" in wheel
