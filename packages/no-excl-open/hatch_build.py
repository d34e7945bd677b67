"""Hatchling build hook: compile src/no_excl_open/shim.c into the wheel as libnoexclopen.so with the
system C compiler ($CC, else cc, gcc or clang on PATH), and tag the wheel py3-none-<platform>: it
holds native code for this platform but uses no Python C API, so it claims no Python ABI."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:          # imported by the tests for find_compiler() / wheel_tag() alone
    BuildHookInterface = object

SOURCE = os.path.join("src", "no_excl_open", "shim.c")
TARGET = "no_excl_open/libnoexclopen.so"


class BuildError(RuntimeError):
    pass


def find_compiler(environ=os.environ) -> list[str]:
    """The C compiler command: $CC when set (it must exist), else the first of cc, gcc, clang."""
    cc = environ.get("CC", "").strip()
    if cc:
        argv = shlex.split(cc)
        if shutil.which(argv[0], path=environ.get("PATH")):
            return argv
        raise BuildError(f"no-excl-open: CC={cc!r} is not an executable on PATH; "
                         "the LD_PRELOAD shim is C and needs a C compiler to build")
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name, path=environ.get("PATH"))
        if path:
            return [path]
    raise BuildError("no-excl-open: no C compiler found (tried $CC, cc, gcc, clang): the LD_PRELOAD "
                     "shim is C and is compiled when the wheel is built; install one "
                     "(Debian: apt-get install gcc libc6-dev) or set CC")


def wheel_tag() -> str:
    """py3-none-<platform>: any Python 3, no Python ABI, this platform (linux_x86_64 ...)."""
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def compile_shim(root: str, out: str, environ=os.environ) -> None:
    cmd = [*find_compiler(environ), "-shared", "-fPIC", "-O2", "-Wall", "-Wextra",
           "-o", out, os.path.join(root, SOURCE), "-ldl"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"no-excl-open: compiling the shim failed ({shlex.join(cmd)}):\n{r.stderr}")


class CustomBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        self._tmp = tempfile.mkdtemp(prefix="no-excl-open-build-")
        out = os.path.join(self._tmp, "libnoexclopen.so")
        compile_shim(self.root, out)
        build_data["force_include"][out] = TARGET
        build_data["pure_python"] = False
        build_data["tag"] = wheel_tag()

    def finalize(self, version, build_data, artifact_path):
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
