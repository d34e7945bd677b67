"""The entry template (scripts/templates/_entry.py): every package holds a byte-identical copy, the
Go-style flags are derived from the parser, and the exit-code policy holds for every console script."""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "scripts" / "templates" / "_entry.py"

spec = importlib.util.spec_from_file_location("suite_entry_template", TEMPLATE)
entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entry)


def _scripts():
    out = []
    for d in sorted((ROOT / "packages").iterdir()):
        f = d / "pyproject.toml"
        if f.is_file():
            meta = tomllib.loads(f.read_text())
            for name in meta["project"].get("scripts", {}):
                c = meta.get("tool", {}).get("suite", {}).get("scripts", {}).get(name, {})
                out.append((name, c.get("policy", "suite")))
    return out


SCRIPTS = _scripts()


def _which(name):
    p = pathlib.Path(sys.executable).parent / name
    return str(p) if p.exists() else name


# -- the copies ------------------------------------------------------------------------------
def test_every_package_holds_an_identical_copy():
    # _entry.py everywhere, and the daemon templates where [tool.suite] templates lists them
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync-entry"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"run scripts/sync-entry:\n{r.stdout}{r.stderr}"


def test_the_check_sees_a_differing_copy(tmp_path):
    # the check can fail: a copy of the tree with one copy changed is reported
    import shutil
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    pkgs = tmp_path / "packages"
    for d in (ROOT / "packages").iterdir():
        if (d / "pyproject.toml").is_file():
            shutil.copytree(d / "src", pkgs / d.name / "src")
            shutil.copy(d / "pyproject.toml", pkgs / d.name)
    daemon = []   # a daemon template's copy, in a package that lists one
    for pyproject in sorted(pkgs.glob("*/pyproject.toml")):
        names = tomllib.loads(pyproject.read_text()).get("tool", {}).get("suite", {}).get("templates", [])
        daemon += [c for n in names[:1] for c in pyproject.parent.glob(f"src/*/{n.split('/')[-1]}.py")]
    victims = [next(pkgs.glob("*/src/*/_entry.py")), *daemon[:1]]
    for victim in victims:
        victim.write_bytes(victim.read_bytes() + b"# drift\n")
    r = subprocess.run([sys.executable, str(tmp_path / "scripts" / "sync-entry"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    for victim in victims:
        assert str(victim.relative_to(tmp_path)) in r.stdout


def test_no_package_keeps_its_own_entry_plumbing():
    # the handling lives in _entry.py only: no second argparse subclass with its own error(),
    # no second BrokenPipe -> 141 or /dev/null dance in a cli
    offenders = []
    for py in (ROOT / "packages").glob("*/src/*/*.py"):
        if py.name == "_entry.py":
            continue
        text = py.read_text()
        if "def error(self, message)" in text or "os.dup2(" in text and "devnull" in text:
            offenders.append(str(py.relative_to(ROOT)))
    assert not offenders, offenders


# -- go_argv ---------------------------------------------------------------------------------
def _parser():
    ap = entry.ArgumentParser(prog="t", go_flags=True, add_help=False)
    ap.add_argument("-k", "--key")
    ap.add_argument("--percentile-set", default="99")
    ap.add_argument("-K", "--no-key", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("-n", type=int)
    ap.add_argument("files", nargs="*")
    return ap


@pytest.mark.parametrize("argv,want", [
    (["-percentile-set", "50,99"], {"percentile_set": "50,99"}),
    (["-percentile-set=50"], {"percentile_set": "50"}),
    (["--percentile-set=50"], {"percentile_set": "50"}),
    (["-key", "-foo"], {"key": "-foo"}),          # Go: the next argument is the value
    (["-k", "-foo"], {"key": "-foo"}),
    (["-k=a"], {"key": "a"}),
    (["--k", "-x"], {"key": "-x"}),                # Go: one or two dashes alike
    (["--K"], {"no_key": True}),
    (["-no-key", "f"], {"no_key": True, "files": ["f"]}),
    (["-verbose=false"], {"verbose": False}),
    (["-verbose=true"], {"verbose": True}),
    (["-verbose=1"], {"verbose": True}),
    (["--", "-verbose"], {"verbose": False, "files": ["-verbose"]}),
    (["-", "-n", "3"], {"files": ["-"], "n": 3}),
])
def test_go_flags(argv, want):
    ns = vars(_parser().parse_args(argv))
    for k, v in want.items():
        assert ns[k] == v, (argv, ns)


@pytest.mark.parametrize("argv,want", [
    ([], True),
    (["-loop=false"], False),                      # Go's way to turn off a default-true flag
    (["-loop=0"], False),
    (["--loop=f"], False),
    (["-loop=true"], True),
    (["-no-loop"], False),
    (["-no-loop=false"], True),
])
def test_go_false_on_a_boolean_optional_flag_is_its_no_form(argv, want):
    ap = entry.ArgumentParser(prog="t", go_flags=True)
    ap.add_argument("--loop", action=argparse.BooleanOptionalAction, default=True)
    assert ap.parse_args(argv).loop is want, argv


def test_go_flags_off_leaves_gnu_clusters_alone():
    ap = entry.ArgumentParser(prog="t")
    ap.add_argument("-n", action="store_true")
    ap.add_argument("-r", action="store_true")
    ap.add_argument("--nr", action="store_true")
    ns = ap.parse_args(["-nr"])
    assert ns.n and ns.r and not ns.nr


def test_go_flag_with_a_bad_boolean_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["-verbose=maybe"])
    assert e.value.code == 2 and "t: error:" in capsys.readouterr().err


def test_mackerel_policy_usage_exit(capsys):
    ap = entry.ArgumentParser(prog="p", policy=entry.MACKEREL)
    with pytest.raises(SystemExit) as e:
        ap.parse_args(["--nope"])
    assert e.value.code == 3


# -- run() -----------------------------------------------------------------------------------
PROG = textwrap.dedent("""
    import sys, time, importlib.util
    spec = importlib.util.spec_from_file_location("e", {template!r})
    e = importlib.util.module_from_spec(spec); spec.loader.exec_module(e)
    mode = sys.argv[1]
    def body():
        if mode == "big":
            for _ in range(100000):
                sys.stdout.buffer.write(b"x" * 99 + b"\\n")
            return 0
        if mode == "sleep":
            try:
                print("ready", file=sys.stderr, flush=True)
                time.sleep(30)
            finally:
                print("cleaned", file=sys.stderr, flush=True)
        if mode == "heldfd":
            f = open(sys.argv[0], "rb")
            print(f.fileno(), e.CLOSED_STD_FDS, file=sys.stderr)
            return 0
        if mode == "missing":
            open("/nonexistent/file")
        if mode == "usage":
            e.ArgumentParser(prog="p", policy=pol).parse_args(["--bad"])
        return 0
    pol = e.MACKEREL if len(sys.argv) > 2 else e.SUITE
    sys.exit(e.run("p", body, policy=pol))
""")


def _prog(tmp_path):
    f = tmp_path / "p.py"
    f.write_text(PROG.format(template=str(TEMPLATE)))
    return [sys.executable, str(f)]


def test_run_broken_pipe_is_141_and_silent(tmp_path):
    p1 = subprocess.Popen(_prog(tmp_path) + ["big"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p1.stdout.read(10)
    p1.stdout.close()
    err = p1.stderr.read()
    assert p1.wait(30) == 141 and err == b""


def test_run_full_disk_is_a_write_error(tmp_path):
    with open("/dev/full", "wb") as full:
        r = subprocess.run(_prog(tmp_path) + ["big"], stdout=full, stderr=subprocess.PIPE)
    assert (r.returncode, r.stderr) == (1, b"p: write error: No space left on device\n")
    with open("/dev/full", "wb") as full:
        r = subprocess.run(_prog(tmp_path) + ["big", "mackerel"], stdout=full, stderr=subprocess.PIPE)
    assert r.returncode == 2


def test_run_closed_stdout_is_ebadf(tmp_path):
    r = subprocess.run(_prog(tmp_path) + ["big"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       pass_fds=(), preexec_fn=lambda: os.close(1))
    assert (r.returncode, r.stderr) == (1, b"p: write error: Bad file descriptor\n")


def test_run_holds_a_closed_descriptor(tmp_path):
    # a file opened later never takes the number of a closed stdout (log lines into a lock file)
    r = subprocess.run(_prog(tmp_path) + ["heldfd"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=lambda: os.close(1))
    fd, closed = r.stderr.decode().split(" ", 1)
    assert r.returncode == 0 and int(fd) > 2 and closed.strip() == "(1,)", r.stderr


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_signals_clean_up_then_exit(tmp_path, sig, code):
    p = subprocess.Popen(_prog(tmp_path) + ["sleep"], stderr=subprocess.PIPE)
    assert p.stderr.readline() == b"ready\n"
    p.send_signal(sig)
    err = p.stderr.read()
    assert p.wait(30) == code and err == b"cleaned\n"


def test_run_reports_a_named_file(tmp_path):
    r = subprocess.run(_prog(tmp_path) + ["missing"], capture_output=True)
    assert (r.returncode, r.stderr) == (1, b"p: /nonexistent/file: No such file or directory\n")


def test_run_usage_error(tmp_path):
    r = subprocess.run(_prog(tmp_path) + ["usage"], capture_output=True)
    assert r.returncode == 2 and r.stderr.endswith(b"p: error: unrecognized arguments: --bad\n")
    r = subprocess.run(_prog(tmp_path) + ["usage", "mackerel"], capture_output=True)
    assert r.returncode == 3


# -- the policy, for every console script ----------------------------------------------------
POLICY = {"suite": entry.SUITE, "mackerel": entry.MACKEREL,
          "grep": entry.GREP}    # myps: 0 listed, 1 none, every error 2


@pytest.mark.parametrize("script", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_help_into_a_full_disk_is_a_write_error(script):
    name, policy = script
    with open("/dev/full", "wb") as full:
        r = subprocess.run([_which(name), "--help"], stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == POLICY[policy].failure, (r.returncode, r.stderr)
    assert r.stderr.startswith(f"{name}: write error: ".encode()), r.stderr
    assert b"Traceback" not in r.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_usage_error_follows_the_policy(script):
    name, policy = script
    r = subprocess.run([_which(name), "--no-such-option-xyzzy"], capture_output=True, timeout=60)
    assert r.returncode == POLICY[policy].usage, (r.returncode, r.stderr)
    assert f"{name}: error: ".encode() in r.stderr, r.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_version_into_a_closed_pipe_is_quiet(script):
    name, _ = script
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([_which(name), "--version"], stdout=w, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(w)
    assert p.returncode == 141 and p.stderr == b"", (p.returncode, p.stderr)
