"""Debian's logrotate and the `create` race, for real.

c/race.c, preloaded into logrotate, re-creates the log right after logrotate's rename() (as an
application that re-opens its log wins the race against logrotate's create, every time). Without
the shim logrotate fails with "error creating output file ...: File exists" and skips postrotate;
under `no-excl-open` the rotation completes, the application's line is kept, postrotate runs, and
postrotate does not inherit LD_PRELOAD."""
from __future__ import annotations

import os
import subprocess

import pytest
from conftest import exe


@pytest.fixture
def logrotate(require_tool):
    return require_tool("logrotate")


def setup(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"old line 1\nold line 2\n")
    marker = tmp_path / "postrotate.ran"
    conf = tmp_path / "app.conf"
    conf.write_text(f"""{log} {{
    create 0640
    rotate 3
    missingok
    postrotate
        echo "LD_PRELOAD=${{LD_PRELOAD:-unset}}" > {marker}
    endscript
}}
""")
    os.chmod(conf, 0o644)
    return log, marker, conf


def run(argv, tmp_path, race_so, log):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(LD_PRELOAD=race_so, RACE_PATH=str(log))
    return subprocess.run([*argv, "-f", "-s", str(tmp_path / "state"), str(tmp_path / "app.conf")],
                          capture_output=True, env=env, timeout=60)


def test_without_the_shim_the_race_breaks_the_rotation(logrotate, cbuild, tmp_path):
    log, marker, _ = setup(tmp_path)
    r = run([logrotate], tmp_path, cbuild("race", shared=True), log)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "error creating output file" in err and "File exists" in err, err
    assert not marker.exists(), "postrotate does not run"
    assert (tmp_path / "app.log.1").read_bytes() == b"old line 1\nold line 2\n"


def test_with_the_shim_the_rotation_completes(logrotate, cbuild, tmp_path):
    log, marker, _ = setup(tmp_path)
    r = run([exe(), logrotate], tmp_path, cbuild("race", shared=True), log)
    assert r.returncode == 0, r.stderr.decode()
    assert b"error" not in r.stderr, r.stderr
    assert (tmp_path / "app.log.1").read_bytes() == b"old line 1\nold line 2\n"
    assert log.read_bytes() == b"app: written after the rename\n", "the application's line is kept"
    assert log.stat().st_mode & 0o777 == 0o640, "logrotate's create mode is applied"
    assert marker.read_text() == "LD_PRELOAD=unset\n", "postrotate ran, without the shim"


def test_print_path_in_ld_preload_works_the_same(logrotate, cbuild, shim, tmp_path):
    # the way a systemd unit or cron line uses it: LD_PRELOAD=$(no-excl-open --print-path)
    log, marker, conf = setup(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(LD_PRELOAD=f"{shim} {cbuild('race', shared=True)}", RACE_PATH=str(log))
    r = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert marker.read_text() == "LD_PRELOAD=unset\n"
