"""scripts/new-package: the scaffold of a new package passes the suite's checks as generated.

In a copy of the repository's scripts, tox.ini and contract tests (no package but the new ones),
new-package makes a tool (Go-style flags, suite policy), a mackerel-policy and a grep-policy tool
and a library; then
their README INSTALL blocks install them into an empty venv, and test_conventions.py,
test_entry.py (layout, README sections, filters, exit-code policy, the _entry.py copies) and the
generated tests all pass there.
"""
from __future__ import annotations

import configparser
import importlib.util
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NEW = ROOT / "scripts" / "new-package"

_spec = importlib.util.spec_from_file_location("contract_install", pathlib.Path(__file__).with_name("test_install.py"))
inst = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(inst)

TOOL, PLUGIN, GREP, LIB = "demo-tool", "demo-plugin", "demo-grep", "demo-lib"
TOOLS = ((TOOL, "demo_tool"), (PLUGIN, "demo_plugin"), (GREP, "demo_grep"))


def make_tree(base: pathlib.Path) -> pathlib.Path:
    tree = base / "repo"
    shutil.copytree(ROOT / "scripts", tree / "scripts",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in ("tox.ini", "pyproject.toml", "tests/conftest.py", "tests/contract/test_conventions.py",
              "tests/contract/test_entry.py"):
        (tree / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tree / f)
    shutil.copytree(ROOT / "tests" / "support", tree / "tests" / "support",   # tests/conftest.py's helpers
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (tree / "packages").mkdir()
    return tree


def new_package(tree, *args):
    return subprocess.run([sys.executable, str(NEW), "--root", str(tree), *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    tree = make_tree(tmp_path_factory.mktemp("scaffold"))
    for args in ([TOOL, "--upstream", "example/demo-tool", "--go-flags"],
                 [PLUGIN, "--policy", "mackerel", "--description", "demo metrics for mackerel-agent"],
                 [GREP, "--policy", "grep"],
                 [LIB, "--library", "--description", "shared code of the demo tools"]):
        r = new_package(tree, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    return tree


def test_the_files_of_the_scaffold(tree):
    for name, mod in TOOLS:
        for f in ("pyproject.toml", "README.md", f"src/{mod}/__init__.py", f"src/{mod}/_entry.py",
                  f"src/{mod}/cli.py", f"src/{mod}/core.py"):
            assert (tree / "packages" / name / f).is_file(), f
        assert (tree / "tests" / name / "test_cli.py").is_file()
        bench = tree / "scripts" / "bench" / name
        assert bench.is_file() and bench.stat().st_mode & 0o111
    for f in ("pyproject.toml", "README.md", "src/demo_lib/__init__.py", "src/demo_lib/_entry.py",
              "src/demo_lib/core.py"):
        assert (tree / "packages" / LIB / f).is_file(), f
    assert not (tree / "packages" / LIB / "src" / "demo_lib" / "cli.py").exists()
    assert (tree / "tests" / LIB / "test_core.py").is_file()
    made = [*(tree / "packages").rglob("*"), *(tree / "tests").glob("demo-*/*"),
            *(tree / "scripts" / "bench").glob("demo-*")]
    leftovers = [p for p in made if p.is_file() and "{{" in p.read_text(errors="replace")]
    assert not leftovers, f"unfilled placeholders in {leftovers}"
    cli = (tree / "packages" / TOOL / "src" / "demo_tool" / "cli.py").read_text()
    assert "go_flags=True" in cli and "_entry.run(" in cli
    assert "POLICY = _entry.MACKEREL" in (tree / "packages" / PLUGIN / "src" / "demo_plugin" / "cli.py").read_text()
    contract = tomllib.loads((tree / "packages" / PLUGIN / "pyproject.toml").read_text())["tool"]["suite"]
    assert contract["scripts"][PLUGIN] == {"filter": False, "input": "text", "policy": "mackerel"}
    readme = (tree / "packages" / PLUGIN / "README.md").read_text()
    assert "| 3 | usage error |" in readme and "| 2 | runtime failure" in readme


def test_entry_copies_and_tox_envs(tree):
    r = subprocess.run([sys.executable, str(tree / "scripts" / "sync-entry"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    cp = configparser.ConfigParser()
    cp.read(tree / "tox.ini")
    envs = cp["tox"]["env_list"].split()
    assert envs[-1] == "contract" and {TOOL, PLUGIN, GREP, LIB} <= set(envs)
    assert envs.index(TOOL) < envs.index(PLUGIN) < envs.index(GREP) < envs.index(LIB), "in order"


def test_refuses_what_exists_and_bad_names(tree):
    tox = (tree / "tox.ini").read_text()
    r = new_package(tree, TOOL)
    assert r.returncode == 2 and "exists already" in r.stderr, r.stderr
    for bad in ("Demo", "demo_tool", "demo--tool", "9lives", "x-"):
        r = new_package(tree, bad)
        assert r.returncode == 2 and "invalid name" in r.stderr, (bad, r.stderr)
    r = new_package(tree, "fine-name", "--module", "class")
    assert r.returncode == 2 and "invalid module" in r.stderr
    assert (tree / "tox.ini").read_text() == tox
    assert not (tree / "packages" / "fine-name").exists()


def test_generated_packages_pass_the_contract_and_their_own_tests(tree, tmp_path):
    venv = tmp_path / "venv"
    inst.new_venv(venv)
    env = inst.venv_env(venv)
    for name in (TOOL, PLUGIN, GREP, LIB):
        blocks = inst.install_blocks((tree / "packages" / name / "README.md").read_text())
        assert blocks and len(blocks) == 1, name
        r = subprocess.run(["bash", "-e", "-c", blocks[0]], cwd=tree, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pytest",
                        "hypothesis"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q",
                        "--import-mode=importlib",   # tests/*/test_cli.py: one basename, many dirs
                        "tests/contract/test_conventions.py", "tests/contract/test_entry.py",
                        f"tests/{TOOL}", f"tests/{PLUGIN}", f"tests/{GREP}", f"tests/{LIB}"],
                       cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    tail = r.stdout[-6000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and " skipped" not in r.stdout and " failed" not in r.stdout, tail
    # the generated tests ran: the tool's and the library's
    r2 = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q",
                         "--co", f"tests/{TOOL}", f"tests/{LIB}"], cwd=tree, env=env,
                        capture_output=True, text=True, timeout=120)
    assert "test_standard_input" in r2.stdout and "test_records" in r2.stdout, r2.stdout
