"""Helpers of the mackerel-plugin-* tests: the plugin's state directory (MACKEREL_PLUGIN_WORKDIR)
under tmp_path, the installed command run against a given one, and a snapshot of what it holds."""
from __future__ import annotations

import os
import pathlib
import subprocess


def plugin_workdir(tmp_path: pathlib.Path, monkeypatch) -> pathlib.Path:
    """tmp_path/work, made and set as MACKEREL_PLUGIN_WORKDIR, without the agent's plugin meta."""
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(d))
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)
    return d


def run_installed(exe: str, workdir, *args) -> subprocess.CompletedProcess:
    """The installed command with MACKEREL_PLUGIN_WORKDIR=workdir (no plugin meta), output captured."""
    env = {k: v for k, v in os.environ.items() if k != "MACKEREL_AGENT_PLUGIN_META"}
    env["MACKEREL_PLUGIN_WORKDIR"] = str(workdir)
    return subprocess.run([exe, *map(str, args)], env=env, capture_output=True)


def snapshot(d: pathlib.Path) -> dict:
    """Each file's bytes and mtime_ns by name ({} when the directory does not exist)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())} if d.exists() else {}
