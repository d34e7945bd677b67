"""CONVENTIONS.md, checked for every console script of every package under packages/.

Each package's pyproject.toml declares, per console script, how the contract applies to it:

    [tool.suite.scripts.lltsv]
    filter = true              # reads [FILE ...]: the missing-FILE and `| head -1` checks apply
    args = ["-k", "status"]    # arguments for those two checks (optional)
    input = "ltsv"             # kind of generated input: numbers | ltsv | ndjson | text
    policy = "mackerel"        # exit-code policy: "suite" (default: usage 2, failure 1) or
                               # "mackerel" (the Nagios plugins: usage 3, failure 2); see _entry.py

A script without such a table fails `test_every_script_declares_its_contract`, so a new package is
covered as soon as it exists.
"""
from __future__ import annotations

import json
import pathlib
import random
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEAVY = ["boto3", "botocore", "msgspec", "pymysql", "pymysqlreplication", "icmplib"]
README_SECTIONS = ["NAME", "SYNOPSIS", "INSTALL", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                   "ENVIRONMENT", "EXAMPLES", "COMPATIBILITY", "PERFORMANCE", "SEE ALSO"]
LIBRARY_README_SECTIONS = ["NAME", "SYNOPSIS", "INSTALL", "DESCRIPTION", "SEE ALSO"]
# the exit-code policy a script declares (`policy = "mackerel"`): its usage-error code
USAGE_EXIT = {"suite": 2, "mackerel": 3, "grep": 2}   # grep: myps (every error 2, 1 = none)


def _packages():
    out = []
    for d in sorted((ROOT / "packages").iterdir()):
        f = d / "pyproject.toml"
        if f.is_file():
            out.append((d, tomllib.loads(f.read_text())))
    return out


PACKAGES = _packages()
SCRIPTS = [(d, meta, name, target)
           for d, meta in PACKAGES
           for name, target in meta["project"].get("scripts", {}).items()]
SCRIPT_IDS = [s[2] for s in SCRIPTS]


def _contract(meta, name):
    return meta.get("tool", {}).get("suite", {}).get("scripts", {}).get(name)


def _which(name):
    p = pathlib.Path(sys.executable).parent / name
    return str(p) if p.exists() else name


# -- layout ----------------------------------------------------------------------------------
def test_there_are_packages():
    assert PACKAGES, "no package under packages/"


@pytest.mark.parametrize("pkg", [p[0] for p in PACKAGES], ids=[p[0].name for p in PACKAGES])
def test_package_layout(pkg):
    meta = tomllib.loads((pkg / "pyproject.toml").read_text())
    assert meta["project"]["name"] == pkg.name, "directory name == distribution name"
    assert meta["build-system"]["build-backend"] == "hatchling.build"
    scripts = meta["project"].get("scripts", {})
    if scripts:
        assert pkg.name in scripts, "a console script is named like the package"
    assert (ROOT / "tests" / pkg.name).is_dir(), f"tests/{pkg.name}/ holds the package's tests"
    srcs = [p for p in (pkg / "src").iterdir() if (p / "__init__.py").is_file()]
    assert len(srcs) == 1, "one module under src/"
    init = (srcs[0] / "__init__.py").read_text()
    assert re.search(r'^__version__ = "[^"]+"', init, re.M), "__init__.py holds __version__"
    assert "version" in meta["project"].get("dynamic", []), "version kept in one place (__init__.py)"


@pytest.mark.parametrize("pkg", [p[0] for p in PACKAGES], ids=[p[0].name for p in PACKAGES])
def test_readme_sections(pkg):
    text = (pkg / "README.md").read_text()
    headings = set(re.findall(r"^##\s+(.+?)\s*$", text, re.M))
    meta = tomllib.loads((pkg / "pyproject.toml").read_text())
    need = README_SECTIONS if meta["project"].get("scripts") else LIBRARY_README_SECTIONS
    missing = [s for s in need if s not in headings]
    assert not missing, f"{pkg.name}/README.md lacks sections: {missing}"


def test_no_package_imports_another_tool():
    tools = {d.name.replace("-", "_") for d, meta in PACKAGES if meta["project"].get("scripts")}
    for d, _meta in PACKAGES:
        own = {p.name for p in (d / "src").iterdir()}
        for py in (d / "src").rglob("*.py"):
            for m in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", py.read_text(), re.M):
                assert m in own or m not in tools, f"{py} imports another tool: {m}"


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_every_script_declares_its_contract(script):
    d, meta, name, _ = script
    c = _contract(meta, name)
    assert isinstance(c, dict) and "filter" in c, \
        f"{d.name}/pyproject.toml needs [tool.suite.scripts.{name}] with filter = true|false"
    assert "usage-exit" not in c, "usage-exit is replaced by policy = \"mackerel\""
    assert c.get("policy", "suite") in USAGE_EXIT, f"policy is one of {sorted(USAGE_EXIT)}"


# -- command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_help_and_version(script, run_cmd):
    d, meta, name, _ = script
    r = run_cmd([_which(name), "--help"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "--help prints to stdout"
    assert b"Traceback" not in r.stderr
    r = run_cmd([_which(name), "--version"], timeout=30)
    assert r.returncode == 0, r.stderr
    line = r.stdout.decode().strip().splitlines()[0]
    assert re.fullmatch(rf"{re.escape(name)} \S+", line), line


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_unknown_option_is_a_usage_error(script, run_cmd):
    d, meta, name, _ = script
    r = run_cmd([_which(name), "--no-such-option-xyzzy"], timeout=30)
    assert r.returncode == USAGE_EXIT[_contract(meta, name).get("policy", "suite")], \
        (r.returncode, r.stderr)
    assert r.stderr.decode().startswith(f"{name}: ") or f"\n{name}: " in r.stderr.decode(), r.stderr
    assert b"Traceback" not in r.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_help_imports_no_heavy_module(script):
    d, meta, name, target = script
    mod, func = target.split(":")
    code = (
        "import sys, json\n"
        f"sys.argv = [{name!r}, '--help']\n"
        f"import {mod} as m\n"
        "import io, contextlib\n"
        "out = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(out):\n"
        f"        m.{func}()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([x for x in {HEAVY!r} if x in sys.modules]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


# -- filters ---------------------------------------------------------------------------------
def _gen_input(kind: str, lines: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    if kind == "numbers":
        return "".join(f"{rnd.random() * 1000:.3f}\n" for _ in range(lines)).encode()
    if kind == "ltsv":
        return "".join(f"time:{i}\tstatus:{rnd.choice([200, 404, 500])}\treqtime:{rnd.random():.3f}\t"
                       f"uri:/p/{rnd.randrange(100)}\n" for i in range(lines)).encode()
    if kind == "ndjson":
        return "".join(json.dumps({"id": i, "to_date": f"19{rnd.randrange(80, 99)}-01-01",
                                   "salary": rnd.randrange(40000, 90000)}) + "\n"
                       for i in range(lines)).encode()
    return "".join(f"line {i} {rnd.random()}\n" for i in range(lines)).encode()


FILTERS = [s for s in SCRIPTS if (_contract(s[1], s[2]) or {}).get("filter")]
FILTER_IDS = [s[2] for s in FILTERS]


@pytest.mark.parametrize("script", FILTERS, ids=FILTER_IDS)
def test_missing_file_among_existing_ones(script, tmp_path, run_cmd):
    d, meta, name, _ = script
    c = _contract(meta, name)
    kind = c.get("input", "text")
    a, b = tmp_path / "a.in", tmp_path / "b.in"
    a.write_bytes(_gen_input(kind, 20, seed=1))
    b.write_bytes(_gen_input(kind, 20, seed=2))
    missing = tmp_path / "missing.in"
    r = run_cmd([_which(name), *c.get("args", []), a, missing, b], timeout=60)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"{name}: {missing}: No such file or directory" in r.stderr.decode(), r.stderr
    assert b"Traceback" not in r.stderr
    assert r.stdout, "the existing files are still processed"
    # ... and their records are all there: compare with the two files given alone
    alone = run_cmd([_which(name), *c.get("args", []), a, b], timeout=60)
    assert alone.returncode == 0, alone.stderr
    assert r.stdout == alone.stdout


@pytest.mark.parametrize("script", FILTERS, ids=FILTER_IDS)
def test_pipe_into_head_exits_quietly(script, tmp_path):
    d, meta, name, _ = script
    c = _contract(meta, name)
    big = tmp_path / "big.in"
    big.write_bytes(_gen_input(c.get("input", "text"), 300_000))
    with open(big, "rb") as src:
        p1 = subprocess.Popen([_which(name), *c.get("args", [])], stdin=src, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        out, _ = p2.communicate(timeout=120)
        err = p1.stderr.read()
        rc = p1.wait(timeout=120)
    assert out.count(b"\n") == 1
    assert b"Traceback" not in err, err.decode(errors="replace")
    assert rc in (0, 141), (rc, err)
    if rc == 141:
        assert err == b"", "a closed pipe is not an error to report"


def test_every_package_has_a_tox_env():
    import configparser
    cp = configparser.ConfigParser()
    cp.read(ROOT / "tox.ini")
    envs = set(cp["tox"]["env_list"].split())
    missing = [d.name for d, _ in PACKAGES if d.name not in envs]
    assert not missing, f"add to env_list in tox.ini: {missing}"
