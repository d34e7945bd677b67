"""The hatchling build hook (packages/no-excl-open/hatch_build.py): the compiler it finds, the
clear error without one, the tag; and a real build of the wheel with hatchling."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

PKG = pathlib.Path(__file__).resolve().parents[2] / "packages" / "no-excl-open"
spec = importlib.util.spec_from_file_location("no_excl_open_hatch_build", PKG / "hatch_build.py")
hook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hook)


def test_no_compiler_is_a_clear_error(tmp_path):
    with pytest.raises(hook.BuildError, match="no C compiler found .*apt-get install gcc"):
        hook.find_compiler({"PATH": str(tmp_path)})
    with pytest.raises(hook.BuildError, match="CC='no-such-cc' is not an executable"):
        hook.find_compiler({"PATH": os.environ["PATH"], "CC": "no-such-cc"})


def test_compiler_from_cc_or_path(tmp_path):
    cc = tmp_path / "mycc"
    cc.write_text("#!/bin/sh\n")
    cc.chmod(0o755)
    assert hook.find_compiler({"PATH": str(tmp_path), "CC": "mycc -m64"}) == ["mycc", "-m64"]
    (tmp_path / "gcc").symlink_to(cc)
    assert hook.find_compiler({"PATH": str(tmp_path)}) == [str(tmp_path / "gcc")]


def test_tag_claims_no_python_abi():
    tag = hook.wheel_tag()
    py, abi, plat = tag.split("-")
    assert (py, abi) == ("py3", "none") and plat and "-" not in plat and "." not in plat


def _build(tmp_path, env):
    code = ("import sys\nfrom hatchling.build import build_wheel\n"
            "print(build_wheel(sys.argv[1]))\n")
    return subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=PKG, env=env,
                          capture_output=True, text=True, timeout=120)


def test_real_build_with_and_without_a_compiler(tmp_path):
    pytest.importorskip("hatchling")
    r = _build(tmp_path / "ok", dict(os.environ))
    assert r.returncode == 0, r.stderr
    whl = tmp_path / "ok" / r.stdout.strip().splitlines()[-1]
    assert whl.name.endswith(f"-{hook.wheel_tag()}.whl"), whl.name
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        assert "no_excl_open/libnoexclopen.so" in names
        assert z.read("no_excl_open/libnoexclopen.so")[:4] == b"\x7fELF"
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env["PATH"] = str(tmp_path)          # no compiler anywhere
    r = _build(tmp_path / "none", env)
    assert r.returncode != 0
    assert "no C compiler found" in r.stderr and "Traceback" in r.stderr  # hatchling shows ours
