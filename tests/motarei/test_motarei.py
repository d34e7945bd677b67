"""motarei against the fake Docker engine: newest container first, fall-through, events instead of
polling, health, draining, logs, graceful stop; and the backend selection as pure functions."""
from __future__ import annotations

import json
import signal
import socket
import subprocess

import pytest
from conftest import ask, free_port, motarei_bin, wait_for
from motarei import backends as bk

LABELS = {"app": "web", "com.example.team": "sre"}


def _cid(n: int) -> str:
    return f"{n:02d}" * 32


def test_newest_container_then_events_move_new_connections(docker, backend, motarei):
    private = free_port()
    old, new = backend("old"), backend("new")
    docker.add(_cid(1), 1000, LABELS, [(private, old.port)], event=False)
    m = motarei("-l", "app=web", "--resync-interval", "60s")
    m.wait_log(msg="listening", listener=f"127.0.0.1:{private}")
    assert ask(private, b"one") == ("old", b"one")
    # a newer container starts: the start event (not the 60 s resync) moves new connections to it
    docker.add(_cid(2), 2000, LABELS, [(private, new.port)])
    assert wait_for(lambda: ask(private)[0] == "new", 5), m.text()
    done = m.wait_log(msg="log", status="Suceeded", container=_cid(2)[:12])
    assert done["upstream"] == f"127.0.0.1:{new.port}" and done["read"] == 2 and done["write"] == 6
    assert done["listener"] == f"127.0.0.1:{private}" and done["remote-addr"].startswith("127.0.0.1:")
    for k in ("conn-id", "start", "duration", "connect-latency", "close-reason", "closed-by"):
        assert k in done
    # the fake saw the calls with the label filter
    lists = [q for _, p, q in docker.requests if p == "/containers/json"]
    assert lists and json.loads(lists[0]["filters"]) == {"label": ["app=web"]}
    events = [q for _, p, q in docker.requests if p == "/events"]
    assert events and json.loads(events[0]["filters"]) == {"type": ["container"], "label": ["app=web"]}


def test_falls_through_to_an_older_container_when_a_dial_fails(docker, backend, motarei):
    private = free_port()
    old = backend("old")
    dead = free_port()                           # the newest container's port: nothing listens
    docker.add(_cid(1), 1000, LABELS, [(private, old.port)], event=False)
    docker.add(_cid(2), 2000, LABELS, [(private, dead)], event=False)
    m = motarei("-l", "app=web", "--proxy-connect-timeout", "1s")
    m.wait_log(msg="listening")
    assert ask(private) == ("old", b"hi")
    warn = m.wait_log(msg="Failed to connect backend")
    assert warn["container"] == _cid(2)[:12] and warn["error"] == "Connection refused"


def test_no_backend_is_failed_and_logged(docker, backend, motarei):
    private = free_port()
    docker.add(_cid(1), 1000, LABELS, [(private, free_port())], event=False)
    m = motarei("-l", "app=web")
    m.wait_log(msg="listening")
    assert ask(private) == ("", b"")
    assert m.wait_log(msg="log", status="Failed")["close-reason"] == "no backend"
    m.wait_log(msg="Giveup to connect backends")


def test_draining_container_keeps_open_connections_and_gets_no_new_ones(docker, backend, motarei):
    private = free_port()
    old, new = backend("old"), backend("new")
    docker.add(_cid(1), 1000, LABELS, [(private, old.port)], event=False)
    docker.add(_cid(2), 2000, LABELS, [(private, new.port)], event=False)
    m = motarei("-l", "app=web", "--resync-interval", "60s")
    m.wait_log(msg="listening")
    s = socket.create_connection(("127.0.0.1", private), timeout=5)
    assert s.recv(4) == b"new\n"
    docker.stop(_cid(2))                         # kill, die, stop events; the process lives on here
    assert wait_for(lambda: ask(private)[0] == "old", 5), m.text()
    s.sendall(b"still there")                    # the open connection to the draining one works
    assert s.recv(64) == b"still there"
    s.close()


def test_require_healthy(docker, backend, motarei):
    private = free_port()
    plain, hc = backend("plain"), backend("hc")
    docker.add(_cid(1), 1000, LABELS, [(private, plain.port)], event=False)            # no HEALTHCHECK
    docker.add(_cid(2), 2000, LABELS, [(private, hc.port)], health="starting", event=False)
    m = motarei("-l", "app=web", "--require-healthy", "--resync-interval", "60s")
    m.wait_log(msg="listening")
    assert ask(private)[0] == "plain"
    docker.set_health(_cid(2), "healthy")
    assert wait_for(lambda: ask(private)[0] == "hc", 5), m.text()
    docker.set_health(_cid(2), "unhealthy")
    assert wait_for(lambda: ask(private)[0] == "plain", 5), m.text()
    inspects = [p for p in docker.paths() if p.startswith("/containers/") and p.endswith("/json")
                and p != "/containers/json"]
    assert inspects


def test_without_health_flag_a_starting_container_is_used(docker, backend, motarei):
    private = free_port()
    hc = backend("hc")
    docker.add(_cid(1), 1000, LABELS, [(private, hc.port)], health="starting", event=False)
    m = motarei("-l", "app=web")
    m.wait_log(msg="listening")
    assert ask(private)[0] == "hc"


def test_starts_before_any_container_and_listens_when_one_appears(docker, backend, motarei):
    private = free_port()
    b = backend("late")
    m = motarei("-l", "app=web", "--resync-interval", "60s")
    m.wait_log(msg="no running container with the labels yet")
    docker.add(_cid(3), 3000, LABELS, [(private, b.port)])
    m.wait_log(msg="listening", listener=f"127.0.0.1:{private}")
    assert ask(private)[0] == "late"


def test_sigterm_graceful_stop(docker, backend, motarei):
    private = free_port()
    b = backend("b")
    docker.add(_cid(1), 1000, LABELS, [(private, b.port)], event=False)
    m = motarei("-l", "app=web", "--shutdown-timeout", "5s")
    m.wait_log(msg="listening")
    s = socket.create_connection(("127.0.0.1", private), timeout=5)
    assert s.recv(2) == b"b\n"
    m.p.send_signal(signal.SIGTERM)
    m.wait_log(msg="shutting down")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", private), timeout=1)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    s.close()
    assert m.p.wait(10) == 0


def test_engine_gone_at_start_is_exit_1(tmp_path):
    r = subprocess.run([motarei_bin(), "-l", "app=web"], env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock",
                                                               "PATH": "/usr/bin:/bin"},
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"cannot reach the Docker engine" in r.stderr and b"Traceback" not in r.stderr


def test_events_stream_broken_then_resync(docker, backend, motarei):
    private = free_port()
    a, b = backend("a"), backend("b")
    docker.add(_cid(1), 1000, LABELS, [(private, a.port)], event=False)
    m = motarei("-l", "app=web", "--resync-interval", "60s")
    m.wait_log(msg="listening")
    assert docker.wait_subscribed()
    # end the events streams (as a restarting engine does); a container appears meanwhile
    with docker.lock:
        for q, _ in docker.subscribers:
            q.put(None)
    docker.add(_cid(2), 2000, LABELS, [(private, b.port)], event=False)
    m.wait_log(msg="docker events stream broke")
    assert wait_for(lambda: ask(private)[0] == "b", 5), m.text()


# -- pure selection ---------------------------------------------------------------------------
def _c(cid, created, ports, t="tcp"):
    return {"Id": cid, "Created": created,
            "Ports": [{"IP": ip, "PrivatePort": a, "PublicPort": b, "Type": t} for a, b in ports for ip in ("0.0.0.0", "::")]}


def test_backends_order_dedupe_and_filters():
    cs = [_c("a", 1, [(80, 1001)]), _c("c", 3, [(80, 1003), (443, 2003)]), _c("b", 3, [(80, 1002)]),
          _c("u", 9, [(53, 5353)], t="udp")]
    t = bk.backends(cs)
    assert t == {80: [("b", 1002), ("c", 1003), ("a", 1001)], 443: [("c", 2003)]}
    assert bk.listen_ports(cs) == []                      # the newest has only a UDP port
    assert bk.listen_ports(cs[:3]) == [80]                # newest: b (Created 3, Id b < c)
    assert bk.backends(cs, draining={"b"})[80][0] == ("c", 1003)
    h = {"b": "starting", "c": "healthy"}
    assert [x[0] for x in bk.backends(cs, h, require_healthy=True)[80]] == ["c", "a"]
    assert bk.backends([{"Id": "x", "Created": 1, "Ports": [{"PrivatePort": 80, "Type": "tcp"}]}]) == {}


def test_unknown_option_and_missing_label(run_cmd):
    r = run_cmd([motarei_bin()], timeout=30)
    assert r.returncode == 2 and b"motarei: error:" in r.stderr
    r = run_cmd([motarei_bin(), "-label", "a=b", "--proxy-connect-timeout", "3"], timeout=30)
    assert r.returncode == 2 and b"missing unit" in r.stderr


def test_help_does_not_import_docker():
    code = ("import sys\nfrom motarei import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('docker' in sys.modules, file=sys.stderr)")
    r = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, timeout=30)
    assert r.stderr.strip().endswith(b"False")
