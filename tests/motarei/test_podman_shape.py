"""Contract of the fake Docker engine: for the calls motarei makes (containers list with a label
filter, inspect, events), the fake's answers have the shape of a real engine's: Debian's podman
(`podman system service`, its Docker-compatible API) on a private unix socket with private storage.
The container is only created (`--network none`), never started and never addressed: these
machines cannot run containers, and no test traffic goes to a container."""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest
from conftest import wait_for

LABEL = {"app": "shape", "com.example.team": "sre"}


def _podman() -> str:
    exe = shutil.which("podman")
    if exe:
        return exe
    if os.environ.get("CI"):
        pytest.fail("podman is not installed (scripts/test should have installed it)")
    pytest.skip("podman is not installed")


@pytest.fixture
def podman(tmp_path):
    exe = _podman()
    run = tempfile.mkdtemp(prefix="pmr-")              # podman wants a runroot under 50 characters
    base = [exe, "--root", str(tmp_path / "root"), "--runroot", run, "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    sock = tmp_path / "podman.sock"
    svc = subprocess.Popen([*base, "system", "service", "--time", "0", f"unix://{sock}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_for(lambda: sock.exists() or svc.poll() is not None, 20) or svc.poll() is not None:
            pytest.skip(f"podman system service does not run here: {svc.stderr.read()[-300:]!r}")
        yield base, f"unix://{sock}"
    finally:
        if svc.poll() is None:
            svc.send_signal(signal.SIGTERM)
            try:
                svc.wait(15)
            except subprocess.TimeoutExpired:
                svc.kill()
                svc.wait()
        subprocess.run([*base, "system", "reset", "--force"], capture_output=True, timeout=60)
        shutil.rmtree(run, ignore_errors=True)


def _image_tar(path) -> None:
    with tarfile.open(path, "w") as t:
        data = b"shape\n"
        info = tarfile.TarInfo("etc/shape")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


def _calls(url: str, labels: list[str], since: int):
    """What motarei asks, through the same SDK: list (all, so that a created container shows),
    inspect of the first, and the events of the last seconds (bounded by `until`)."""
    import docker
    c = docker.DockerClient(base_url=url, timeout=20)
    try:
        lst = c.api.containers(all=True, filters={"label": labels})
        ins = c.api.inspect_container(lst[0]["Id"]) if lst else None
        evs = list(c.api.events(since=since, until=int(time.time()) + 1,
                                filters={"type": ["container"], "label": labels}, decode=True))
        return lst, ins, evs
    finally:
        c.close()


def _types(d: dict) -> dict:
    return {k: type(v).__name__ for k, v in d.items()}


def test_fake_answers_have_podmans_shapes(podman, docker, tmp_path):
    base, url = podman
    t0 = int(time.time()) - 1
    tar = tmp_path / "image.tar"
    _image_tar(tar)
    r = subprocess.run([*base, "import", str(tar), "localhost/motarei-shape:1"], capture_output=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"podman cannot import an image here: {r.stderr[-300:]!r}")
    r = subprocess.run([*base, "create", "--network", "none", "--name", "shape1",
                        *[a for k, v in LABEL.items() for a in ("--label", f"{k}={v}")],
                        "localhost/motarei-shape:1", "/none"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    labels = ["app=shape"]
    real_list, real_inspect, real_events = _calls(url, labels, t0)
    docker.add("ab" * 32, int(time.time()), LABEL, [(8080, 32768)])
    docker.stop("ab" * 32)                               # the fake lists it with all=1, as podman
    fake_list, fake_inspect, fake_events = _calls(docker.url, labels, t0)
    assert len(real_list) == 1 and len(fake_list) == 1

    # the list: every key the fake gives exists in podman's answer with the same JSON type
    rl, fl = _types(real_list[0]), _types(fake_list[0])
    assert {k: v for k, v in fl.items() if k in rl} == {k: rl[k] for k in fl if k in rl}
    assert set(fl) <= set(rl), set(fl) - set(rl)
    for key in ("Id", "Created", "Ports", "Labels", "State", "Names"):
        assert key in rl
    assert real_list[0]["Labels"]["app"] == "shape"

    # inspect: the same top-level and State keys (Health only with a HEALTHCHECK)
    assert set(fake_inspect) <= set(real_inspect), set(fake_inspect) - set(real_inspect)
    fs = {k for k in fake_inspect["State"] if k != "Health"}
    assert fs <= set(real_inspect["State"]), fs - set(real_inspect["State"])
    assert _types(fake_inspect["State"])["Status"] == _types(real_inspect["State"])["Status"] == "str"
    assert type(fake_inspect["Created"]) is type(real_inspect["Created"]) is str

    # events: the create event of podman and the fake's events carry the fields motarei reads
    assert real_events, "podman reported no event for the created container"
    for ev in real_events + fake_events:
        assert ev["Type"] == "container"
        assert isinstance(ev.get("Action"), str) and isinstance(ev["Actor"]["ID"], str)
        assert ev["Actor"]["Attributes"].get("app") == "shape"
        assert isinstance(ev["time"], int)
    assert set(fake_events[0]) <= set(real_events[0]) | {"status", "id", "from"}
