"""The shim itself: each wrapped entry point, the flag matrix, LD_PRELOAD removed from the
environment. The C program c/opener.c opens an existing file through one entry point, with and
without the shim preloaded."""
from __future__ import annotations

import os
import subprocess

import pytest
from conftest import exe

MODE_CALLS = ["open", "open64", "openat", "openat64"]
FORTIFIED = ["__open_2", "__open64_2"]

# flags on an existing 5-byte file -> (without the shim, with it)
MATRIX = [
    (["RDWR", "CREAT", "EXCL"], "EEXIST", "ok size=5"),              # the rule: O_EXCL dropped
    (["RDWR", "CREAT", "EXCL", "APPEND"], "EEXIST", "ok size=5"),    # still the rule
    (["RDWR", "CREAT", "EXCL", "TRUNC"], "EEXIST", "EEXIST"),        # O_TRUNC: left alone
    (["WRONLY", "CREAT", "EXCL"], "EEXIST", "EEXIST"),               # O_WRONLY: left alone
    (["RDONLY", "CREAT", "EXCL"], "EEXIST", "EEXIST"),               # O_RDONLY: left alone
    (["WRONLY", "CREAT", "EXCL", "TRUNC"], "EEXIST", "EEXIST"),
    (["RDWR", "CREAT"], "ok size=5", "ok size=5"),
    (["RDWR", "CREAT", "TRUNC"], "ok size=0", "ok size=0"),
    (["RDWR"], "ok size=5", "ok size=5"),
    (["WRONLY", "APPEND"], "ok size=5", "ok size=5"),
]


def opener(prog, args, shim=None, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if shim:
        env["LD_PRELOAD"] = shim
    env.update(env_extra or {})
    r = subprocess.run([prog, *args], capture_output=True, env=env, timeout=30)
    return r


@pytest.mark.parametrize("call", MODE_CALLS)
@pytest.mark.parametrize("flags,plain,shimmed", MATRIX, ids=["-".join(m[0]) for m in MATRIX])
def test_flag_matrix(cbuild, shim, tmp_path, call, flags, plain, shimmed):
    prog = cbuild("opener")
    f = tmp_path / "app.log"
    f.write_bytes(b"hello")
    without = opener(prog, [call, str(f), *flags])
    assert without.stdout.decode().strip() == plain, without
    f.write_bytes(b"hello")
    with_ = opener(prog, [call, str(f), *flags], shim=shim)
    assert with_.stdout.decode().strip() == shimmed, with_
    assert with_.stderr == b""


@pytest.mark.parametrize("call", MODE_CALLS)
def test_a_new_file_is_still_created_with_its_mode(cbuild, shim, tmp_path, call):
    f = tmp_path / "new.log"
    r = opener(cbuild("opener"), [call, str(f), "RDWR", "CREAT", "EXCL"], shim=shim)
    assert r.stdout == b"ok size=0\n", r
    assert f.stat().st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@pytest.mark.parametrize("call", MODE_CALLS + FORTIFIED)
def test_every_entry_point_binds_to_the_shim(cbuild, shim, tmp_path, call):
    # the dynamic linker's own account: the program's reference to CALL is bound to the shim
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    r = opener(cbuild("opener"), [call, str(f), "RDWR"], shim=shim, env_extra={"LD_DEBUG": "bindings"})
    assert r.stdout == b"ok size=5\n", r
    bound = [ln for ln in r.stderr.decode().splitlines()
             if f"normal symbol `{call}'" in ln and "opener" in ln.split("binding file", 1)[-1].split(" to ")[0]]
    assert bound, r.stderr.decode()[-2000:]
    assert all(os.path.basename(shim) in ln.split(" to ", 1)[1] for ln in bound), bound


@pytest.mark.parametrize("call", FORTIFIED)
def test_fortified_entry_points_pass_the_rest_through(cbuild, shim, tmp_path, call):
    # __open_2 takes no mode (glibc refuses O_CREAT there): an open of an existing file, a
    # missing file and O_EXCL without O_CREAT behave as without the shim
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    prog = cbuild("opener")
    for args in ([str(f), "RDWR"], [str(f), "RDWR", "EXCL"], [str(tmp_path / "missing"), "RDWR"],
                 [str(f), "WRONLY", "TRUNC"]):
        a = opener(prog, [call, *args])
        f.write_bytes(b"hello")
        b = opener(prog, [call, *args], shim=shim)
        f.write_bytes(b"hello")
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout), (args, a, b)


def test_ld_preload_is_removed_from_the_environment(cbuild, shim):
    # the shim's constructor unsets LD_PRELOAD: the program and what it starts do not see it
    prog = cbuild("opener")
    assert opener(prog, ["env"]).stdout == b"unset\n"
    assert opener(prog, ["env"], env_extra={"LD_PRELOAD": ""}).stdout == b"\n"   # the check can fail
    assert opener(prog, ["env"], shim=shim).stdout == b"unset\n"
    r = subprocess.run([exe(), "sh", "-c", f'{prog} env; echo "sh:${{LD_PRELOAD-unset}}"'],
                       capture_output=True, timeout=30)
    assert r.stdout == b"unset\nsh:unset\n", r


def test_python_os_open_goes_through_the_shim(shim, tmp_path):
    # CPython's os.open calls open64 (the spec's first throwaway shim wrapped open only and missed
    # it): under the shim the rule applies to Python programs too
    f = tmp_path / "f"
    f.write_bytes(b"x")
    code = ("import os,sys\n"
            "try:\n os.close(os.open(sys.argv[1], os.O_RDWR|os.O_CREAT|os.O_EXCL)); print('ok')\n"
            "except FileExistsError: print('EEXIST')\n")
    import sys
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    plain = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, env=env, timeout=30)
    assert plain.stdout == b"EEXIST\n"
    env["LD_PRELOAD"] = shim
    shimmed = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, env=env, timeout=30)
    assert (shimmed.returncode, shimmed.stdout, shimmed.stderr) == (0, b"ok\n", b""), shimmed
