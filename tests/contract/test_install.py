"""Every tool installs alone, the way its README says (CONVENTIONS.md, Layout).

- Each package README has an INSTALL section: exactly one fenced ```sh block whose lines are run, as
  written, from the repository root in a fresh empty venv; then every console script of the package
  answers `--version` (a library: its module imports). The venv ends up with exactly that package
  and the sibling libraries it needs, each installed from its directory here (direct_url.json),
  never from an index.
- The block names every sibling the package needs (transitively) as ./packages/<name>.
- `uv lock` resolves the workspace with every sibling taken from its directory ([tool.uv.sources]);
  the lock is made in a scratch copy (no uv.lock is kept in the repository: it would pin index URLs).
- scripts/build-dist builds a wheelhouse and single-file executables: two are built and run here
  (lltsv, plain; mackerel-plugin-axslog, a compiled dependency and sibling libraries), and the
  wheelhouse installs a tool with pip --no-index.

The venvs are made and filled in parallel (pip's cache is shared), once per session.
"""
from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("install_pkgs", ROOT / "scripts" / "install-pkgs.py")
pkgs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pkgs)

META = {n: tomllib.loads((d / "pyproject.toml").read_text()) for n, d in pkgs.PKGS.items()}
NAMES = list(pkgs.PKGS)
WORKERS = 4   # mostly waiting on the index and on subprocesses


def install_fences(readme: str) -> list[tuple[str, str]] | None:
    """(language, text) of each fenced block of the README's INSTALL section (None: no section)."""
    m = re.search(r"^##\s+INSTALL\s*$(.*?)(?=^##\s|\Z)", readme, re.M | re.S)
    if not m:
        return None
    return re.findall(r"^```(\S*)[ \t]*\n(.*?)^```[ \t]*$", m.group(1), re.M | re.S)


def install_blocks(readme: str) -> list[str] | None:
    """The fenced sh blocks of the README's INSTALL section (None: no such section)."""
    fences = install_fences(readme)
    return None if fences is None else [text for lang, text in fences if lang == "sh"]


def module_of(name: str) -> str:
    return next(p.name for p in (pkgs.PKGS[name] / "src").iterdir() if (p / "__init__.py").is_file())


def runtime_siblings(name: str) -> list[str]:
    """The sibling packages `name` needs at run time, transitively (not its test extra)."""
    by_norm = {pkgs.norm(n): n for n in NAMES}
    out: list[str] = []

    def visit(n: str) -> None:
        for req in META[n]["project"].get("dependencies", []):
            dep = by_norm.get(pkgs.norm(re.match(r"\s*([A-Za-z0-9_.-]+)", req).group(1)))
            if dep and dep != name and dep not in out:
                out.append(dep)
                visit(dep)

    visit(name)
    return out


def venv_env(venv: pathlib.Path) -> dict:
    """The environment of a shell in `venv` activated: its bin first, and no other venv's bin
    (the one running pytest has every tool; finding one there would hide a failed install)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    skip = {str(pathlib.Path(sys.prefix) / "bin"), os.environ.get("VIRTUAL_ENV", "") + "/bin"}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in skip]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # speed only, the command stays as written: no .pyc compile (botocore's thousands of files),
    # and the build backend taken from the venv (new_venv puts hatchling there) instead of a fresh
    # isolated build environment per local package
    env["PIP_NO_COMPILE"] = "1"
    env["PIP_NO_BUILD_ISOLATION"] = "0"
    return env


def new_venv(venv: pathlib.Path) -> None:
    """An empty venv with pip, as `python3 -m venv` makes it (uv makes the same in a tenth of the
    time, with pip from its cache, when it is on PATH: scripts/test puts tox-uv's there)."""
    uv = shutil.which("uv")
    cmd = ([uv, "venv", "-q", "--seed", "--python", sys.executable, str(venv)] if uv
           else [sys.executable, "-m", "venv", str(venv)])
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "hatchling"], check=True, capture_output=True, timeout=300)


INSPECT = ("import importlib.metadata as m, json\n"
           "print(json.dumps({d.metadata['Name']: d.read_text('direct_url.json')"
           " for d in m.distributions()}))")


def try_install(name: str, base: pathlib.Path) -> dict:
    """Run the INSTALL block of `name` in a new venv; what happened, for the tests to judge."""
    blocks = install_blocks((pkgs.PKGS[name] / "README.md").read_text())
    res: dict = {"blocks": blocks}
    if not blocks or len(blocks) != 1:
        return res
    venv = base / name
    new_venv(venv)
    env = venv_env(venv)
    r = subprocess.run(["bash", "-e", "-x", "-c", blocks[0]], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    res["install"] = (r.returncode, r.stdout + r.stderr)
    checks = []
    for script in META[name]["project"].get("scripts", {}):
        exe = venv / "bin" / script
        if not exe.exists():
            checks.append((script, None, f"{exe} was not installed"))
            continue
        v = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True, timeout=60)
        checks.append((script, v.returncode, v.stdout + v.stderr))
    if not META[name]["project"].get("scripts"):
        mod = module_of(name)
        v = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {mod}"], env=env,
                           capture_output=True, text=True, timeout=60, cwd=base)
        checks.append((f"import {mod}", v.returncode, v.stdout + v.stderr))
    res["checks"] = checks
    r = subprocess.run([str(venv / "bin" / "python"), "-c", INSPECT], env=env, capture_output=True,
                       text=True, timeout=60, cwd=base)
    res["dists"] = json.loads(r.stdout) if r.returncode == 0 else {}
    return res


def suite_dists(dists: dict) -> dict:
    """{package directory name: direct_url.json text or None} of the suite's installed packages."""
    ours = {pkgs.norm(n): n for n in NAMES}
    return {ours[pkgs.norm(d)]: url for d, url in dists.items() if pkgs.norm(d) in ours}


def not_from_here(got: dict) -> dict:
    """The suite packages that were not installed from their directory here (an index, a wheel)."""
    bad = {}
    for n, url in got.items():
        src = json.loads(url).get("url", "") if url else ""
        if not src.startswith("file://") or \
                pathlib.Path(src[len("file://"):]).resolve() != pkgs.PKGS[n].resolve():
            bad[n] = f"installed from {src or 'an index'}, not from ./packages/{n}"
    return bad


@pytest.fixture(scope="module")
def pool():
    with ThreadPoolExecutor(WORKERS) as p:
        yield p


def build_dist(out: pathlib.Path, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "build-dist"), "--out", str(out),
                           "--python", sys.executable, *names],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def dist_job(pool, tmp_path_factory):
    """scripts/build-dist of two tools, started at once: it runs beside the installs."""
    out = tmp_path_factory.mktemp("dist")
    return out, pool.submit(build_dist, out, "lltsv", "mackerel-plugin-axslog")


@pytest.fixture(scope="module")
def installs(pool, dist_job, tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    futures = {n: pool.submit(try_install, n, base) for n in NAMES}
    return {n: f.result() for n, f in futures.items()}


# -- the README's INSTALL section --------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_readme_has_one_install_block(name):
    fences = install_fences((pkgs.PKGS[name] / "README.md").read_text())
    assert fences is not None, f"packages/{name}/README.md has no ## INSTALL section"
    assert [lang for lang, _ in fences] == ["sh"], \
        f"the INSTALL section of {name} holds {[lang or 'plain' for lang, _ in fences]}, not one ```sh block"


def not_named(name: str, block: str) -> list[str]:
    """The package and the siblings it needs that the block does not give as ./packages/<name>."""
    paths = set(re.findall(r"(?<![\w/.-])\./packages/([A-Za-z0-9_.-]+?)/?(?=[\s\[\"']|$)", block, re.M))
    return [n for n in [name, *runtime_siblings(name)] if n not in paths]


@pytest.mark.parametrize("name", NAMES)
def test_install_block_names_every_sibling(name):
    blocks = install_blocks((pkgs.PKGS[name] / "README.md").read_text()) or []
    if len(blocks) != 1:
        pytest.fail(f"{name}: no single INSTALL block (see test_readme_has_one_install_block)")
    missing = not_named(name, blocks[0])
    assert not missing, (f"{name}: the INSTALL block must install {missing} from ./packages/<name> "
                         "(else pip looks the sibling up on a public index)")


@pytest.mark.parametrize("name", NAMES)
def test_install_block_works_in_an_empty_venv(name, installs):
    res = installs[name]
    if not res["blocks"] or len(res["blocks"]) != 1:
        pytest.fail(f"{name}: no single INSTALL block (see test_readme_has_one_install_block)")
    rc, out = res["install"]
    assert rc == 0, f"{name}: the INSTALL block failed ({rc}):\n{out[-4000:]}"
    for what, code, text in res["checks"]:
        assert code == 0, f"{name}: `{what} --version` after the INSTALL block: {code}\n{text}"
        if not what.startswith("import "):
            assert text.startswith(f"{what} "), text
    # exactly this package and its siblings, each from its directory here
    got = suite_dists(res["dists"])
    assert sorted(got) == sorted([name, *runtime_siblings(name)]), \
        f"{name}: the INSTALL block installs {sorted(got)}"
    assert not not_from_here(got), f"{name}: {not_from_here(got)}"


def test_sibling_check_sees_a_missing_sibling():
    # the static check can fail: a plugin block without its library is caught
    plugin = next((n for n in NAMES if runtime_siblings(n)), None)
    if plugin is None:
        pytest.skip("no package depends on a sibling")
    assert not_named(plugin, f"pip install ./packages/{plugin}\n") == runtime_siblings(plugin)
    full = " ".join(f"./packages/{n}" for n in runtime_siblings(plugin))
    assert not_named(plugin, f"pip install {full} \\\n    ./packages/{plugin}/\n") == []


# -- uv ----------------------------------------------------------------------------------------
def direct_siblings(name: str) -> list[str]:
    by_norm = {pkgs.norm(n): n for n in NAMES}
    deps = [by_norm.get(pkgs.norm(re.match(r"\s*([A-Za-z0-9_.-]+)", r).group(1)))
            for r in META[name]["project"].get("dependencies", [])]
    return [d for d in deps if d and d != name]


@pytest.mark.parametrize("name", NAMES)
def test_siblings_are_workspace_sources(name):
    sources = META[name].get("tool", {}).get("uv", {}).get("sources", {})
    sources = {pkgs.norm(k): v for k, v in sources.items()}
    missing = [d for d in direct_siblings(name) if sources.get(pkgs.norm(d)) != {"workspace": True}]
    assert not missing, (f"packages/{name}/pyproject.toml: add under [tool.uv.sources] "
                         + ", ".join(f"{d} = {{ workspace = true }}" for d in missing))


def test_uv_lock_takes_siblings_from_the_workspace(require_tool, tmp_path):
    uv = require_tool("uv")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in NAMES:
        shutil.copytree(ROOT / "packages" / name, tmp_path / "packages" / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    r = subprocess.run([uv, "lock", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"uv lock failed:\n{r.stderr[-3000:]}"
    import tomllib
    lock = tomllib.loads((tmp_path / "uv.lock").read_text())
    sources = {pkgs.norm(p["name"]): p.get("source", {}) for p in lock["package"]}
    for name in NAMES:
        src = sources.get(pkgs.norm(name))
        assert src and "registry" not in src, (name, src)   # editable/virtual: from packages/


# -- scripts/build-dist ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dist(dist_job):
    out, job = dist_job
    r = job.result()
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def _dist_env(tmp_path, compiled=False):
    """A bare environment: the system's python3 runs the file (`#!/usr/bin/env python3`). A file
    with a compiled dependency needs the minor version it was built for: when the system's
    python3 is another one, the build interpreter's own directory comes first."""
    path = "/usr/bin:/bin"
    if compiled:
        want = "%d.%d" % sys.version_info[:2]
        r = subprocess.run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           env={"PATH": path}, capture_output=True, text=True)
        if r.stdout.strip() != want:
            path = str(pathlib.Path(sys._base_executable).parent) + ":" + path
    return {"PATH": path, "HOME": str(tmp_path), "SHIV_ROOT": str(tmp_path / "shiv"),
            "MACKEREL_PLUGIN_WORKDIR": str(tmp_path), "TMPDIR": str(tmp_path), "LC_ALL": "C.UTF-8"}


def test_build_dist_plain_executable(dist, tmp_path):
    exe = dist / "bin" / "lltsv"
    assert exe.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    env = _dist_env(tmp_path)
    r = subprocess.run([str(exe), "--version"], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"lltsv "), r
    r = subprocess.run([str(exe), "-k", "status,uri"], input=b"uri:/a\tstatus:200\treqtime:1\n",
                       env=env, capture_output=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, b"status:200\turi:/a\n"), r


def test_build_dist_executable_with_compiled_dependency_and_sibling(dist, tmp_path):
    exe = dist / "bin" / "mackerel-plugin-axslog"
    env = _dist_env(tmp_path, compiled=True)
    r = subprocess.run([str(exe), "--version"], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"mackerel-plugin-axslog "), r
    log = tmp_path / "access.log"
    log.write_bytes(b"status:200\treqtime:0.100\n" * 3 + b"status:503\treqtime:0.300\n")
    r = subprocess.run([str(exe), "--logfile", str(log), "--key-prefix", "t", "--first-run", "all"],
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r
    assert re.search(rb"^axslog\.access_ratio_t\.5xx_percentage\t25\.0+\t\d+$", r.stdout, re.M), r.stdout
    # msgspec (a compiled module) and the sibling libraries were unpacked from the one file
    unpacked = {p.name for p in (tmp_path / "shiv").glob("*/site-packages/*")}
    assert {"msgspec", "mackerel_logfollow", "mackerel_plugin_axslog"} <= unpacked, unpacked


def test_wheelhouse_installs_offline(dist, tmp_path):
    venv = tmp_path / "v"
    new_venv(venv)
    env = {k: v for k, v in venv_env(venv).items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull     # no index, no find-links but the wheelhouse
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                        "--find-links", str(dist / "wheels"), "mackerel-plugin-axslog"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(venv / "bin" / "mackerel-plugin-axslog"), "--version"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_a_package_from_an_index_is_seen(dist, tmp_path):
    # the check can fail: packages installed by name from a package index (here the wheelhouse,
    # offline, standing in for one) are reported, each of them
    lib = next((n for n in runtime_siblings("mackerel-plugin-axslog") if runtime_siblings(n)),
               "mackerel-logfollow")
    venv = tmp_path / "v"
    new_venv(venv)
    env = {k: v for k, v in venv_env(venv).items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                        "--find-links", str(dist / "wheels"), lib],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(venv / "bin" / "python"), "-c", INSPECT], env=env, capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    got = suite_dists(json.loads(r.stdout))
    assert sorted(got) == sorted([lib, *runtime_siblings(lib)])
    assert sorted(not_from_here(got)) == sorted(got)


def test_build_dist_refuses_an_unknown_package(tmp_path):
    r = build_dist(tmp_path, "no-such-tool")
    assert r.returncode == 2 and "no-such-tool" in r.stderr
    assert not any(tmp_path.iterdir())
