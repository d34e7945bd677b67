#!/usr/bin/env python3
"""Install packages of this repository (non-editable, with their [test] extra) into the running
interpreter, sibling packages they depend on first, from their directories, never from an index.

    python scripts/install-pkgs.py percentile        one package (tox env <name>)
    python scripts/install-pkgs.py --all             every package (tox env contract)

A package that depends on a sibling (for example a plugin on the shared log-follower library) names
it in its pyproject dependencies as usual; this script sees the name and installs the local copy.
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKGS = {p.name: p for p in sorted((ROOT / "packages").iterdir()) if (p / "pyproject.toml").is_file()}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def siblings(name: str) -> list[str]:
    meta = tomllib.loads((PKGS[name] / "pyproject.toml").read_text())["project"]
    reqs = list(meta.get("dependencies", []))
    reqs += meta.get("optional-dependencies", {}).get("test", [])
    out = []
    for r in reqs:
        m = re.match(r"\s*([A-Za-z0-9_.-]+)", r)
        if m and norm(m.group(1)) in {norm(k) for k in PKGS} and norm(m.group(1)) != norm(name):
            out.append(next(k for k in PKGS if norm(k) == norm(m.group(1))))
    return out


def order(names: list[str]) -> list[str]:
    seen: list[str] = []

    def visit(n: str) -> None:
        if n in seen:
            return
        for d in siblings(n):
            visit(d)
        seen.append(n)

    for n in names:
        visit(n)
    return seen


def main(argv: list[str]) -> int:
    names = list(PKGS) if argv == ["--all"] else argv
    unknown = [n for n in names if n not in PKGS]
    if unknown:
        print(f"install-pkgs: no package directory: {', '.join(unknown)}", file=sys.stderr)
        return 2
    uv = shutil.which("uv")  # much faster than pip, and caches builds; pip otherwise
    for n in order(names):
        if uv:
            cmd = [uv, "pip", "install", "-q", "--no-sources", "--python", sys.executable, "--reinstall-package", n,
                   f"{PKGS[n]}[test]"]
        else:
            cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                   f"{PKGS[n]}[test]"]
        subprocess.check_call(cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
