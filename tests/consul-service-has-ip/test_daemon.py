"""consul-service-has-ip as a process against the fake Consul: routes and answers, the fixes
(real status in the access log, Service.Address before Node.Address, IPv6 as addresses), the
watch with blocking queries and --max-stale, Consul failures, the token, signals and inherited
sockets."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
from conftest import Daemon, free_port, wait_for

OK = b'{"error":0}'


def ep(c):
    return ["--consul-api-endpoint", c.url]


def test_routes_and_answers(consul, daemon):
    consul.register("n1", "127.0.0.5", "web", port=80)
    d = daemon(*ep(consul), "--access-log-dir", "none")
    assert d.get("/has/web/127.0.0.5") == (200, OK, "application/json")
    code, body, ctype = d.get("/has/web/127.0.0.9")
    assert (code, ctype) == (404, "application/json")
    assert json.loads(body) == {"error": 1, "messages": "ip:127.0.0.9 is not in service:web"}
    assert d.get("/has/nosuch/127.0.0.5")[0] == 404
    assert d.get("/has/web/not-an-ip")[0] == 400
    assert d.get("/live")[:2] == (200, OK)
    assert d.get("/has/web")[0] == 404 and d.get("/")[0] == 404
    assert d.get("/has/web/127.0.0.5", method="POST")[0] == 405
    code, body, _ = d.get("/has/web/127.0.0.5", method="HEAD")
    assert (code, body) == (200, b"")


def test_service_address_wins_over_node_address(consul, daemon):
    # upstream compared Node.Address only: an instance registered with its own address was missed
    consul.register("n1", "127.0.0.5", "db", port=3306, service_address="127.0.0.50")
    consul.register("n2", "127.0.0.6", "db", service_id="db2", port=3306)
    d = daemon(*ep(consul), "--access-log-dir", "none")
    assert d.get("/has/db/127.0.0.50")[0] == 200
    assert d.get("/has/db/127.0.0.5")[0] == 404, "the node's address is not the service's"
    assert d.get("/has/db/127.0.0.6")[0] == 200, "no Service.Address: the node's"


def test_ipv6_compared_as_addresses(consul, daemon):
    consul.register("n1", "127.0.0.5", "v6", service_address="::1")
    consul.register("n2", "127.0.0.6", "v6", service_id="v6b", service_address="::ffff:127.0.0.7")
    d = daemon(*ep(consul), "--access-log-dir", "none")
    assert d.get("/has/v6/0:0:0:0:0:0:0:1")[0] == 200
    assert d.get("/has/v6/%3A%3A1")[0] == 200
    assert d.get("/has/v6/127.0.0.7")[0] == 200
    assert d.get("/has/v6/::2")[0] == 404


def test_only_passing_instances(consul, daemon):
    consul.register("n1", "127.0.0.5", "web", status="critical")
    consul.register("n2", "127.0.0.6", "web", service_id="web2", status="passing")
    d = daemon(*ep(consul), "--access-log-dir", "none")
    assert d.get("/has/web/127.0.0.5")[0] == 404
    assert d.get("/has/web/127.0.0.6")[0] == 200
    assert all(r.query.get("passing") == "1" for r in consul.seen("GET", "/v1/health/service/web"))


def test_watch_follows_changes_without_a_query_per_check(consul, daemon):
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--access-log-dir", "none")
    assert d.get("/has/web/127.0.0.5")[0] == 200
    assert wait_for(lambda: any(r.query.get("index") for r in consul.seen("GET", "/v1/health/service/web")))
    n = len(consul.seen("GET", "/v1/health/service/web"))
    for _ in range(50):
        assert d.get("/has/web/127.0.0.5")[0] == 200
    assert len(consul.seen("GET", "/v1/health/service/web")) == n, "answered from the watch"
    blocking = [r for r in consul.seen("GET", "/v1/health/service/web") if r.query.get("index")]
    assert blocking[0].query["wait"] == "60s" and int(blocking[0].query["index"]) >= 1
    # a change reaches the daemon through the blocking query
    consul.register("n2", "127.0.0.6", "web", service_id="web2")
    assert wait_for(lambda: d.get("/has/web/127.0.0.6")[0] == 200, timeout=5)
    consul.deregister("n1", "web")
    assert wait_for(lambda: d.get("/has/web/127.0.0.5")[0] == 404, timeout=5)
    # a failing check takes the instance out (?passing on the blocking query too)
    consul.register("n3", "127.0.0.7", "web", service_id="web3", status="passing")
    assert wait_for(lambda: d.get("/has/web/127.0.0.7")[0] == 200, timeout=5)
    consul.set_check("n3", "service:web3", "critical")
    assert wait_for(lambda: d.get("/has/web/127.0.0.7")[0] == 404, timeout=5)


def test_no_watch_queries_every_time(consul, daemon):
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--no-watch", "--access-log-dir", "none")
    for _ in range(5):
        assert d.get("/has/web/127.0.0.5")[0] == 200
    reqs = consul.seen("GET", "/v1/health/service/web")
    assert len(reqs) == 5 and not any(r.query.get("index") for r in reqs)


def test_consul_errors_are_500(consul, daemon):
    d = daemon(*ep(consul), "--no-watch", "--timeout", "500ms", "--access-log-dir", "none")
    consul.fail("500", count=1)
    code, body, _ = d.get("/has/web/127.0.0.5")
    assert code == 500 and b"Consul answered 500" in body
    consul.fail("badjson", count=1)
    code, body, _ = d.get("/has/web/127.0.0.5")
    assert code == 500 and b"not JSON" in body
    consul.fail("slow", count=1, delay=2.0)
    t0 = time.monotonic()
    code, body, _ = d.get("/has/web/127.0.0.5")
    assert code == 500 and b"did not answer" in body and time.monotonic() - t0 < 1.8
    r = daemon("--consul-api-endpoint", f"http://127.0.0.1:{free_port()}", "--access-log-dir", "none")
    code, body, _ = r.get("/has/web/127.0.0.5")
    assert code == 500 and b"cannot reach Consul" in body


def test_max_stale_then_direct_queries(consul, daemon):
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--max-stale", "1s", "--watch-wait", "1s", "--access-log-dir", "none")
    assert d.get("/has/web/127.0.0.5")[0] == 200
    consul.fail("500", count=1000, path="/v1/health/service/web")
    # the watch fails on its next query (within the 1s wait); the cached answer is kept for 1s
    t0 = time.monotonic()
    assert d.get("/has/web/127.0.0.5")[0] == 200
    assert wait_for(lambda: d.get("/has/web/127.0.0.5")[0] == 500, timeout=6)
    assert time.monotonic() - t0 >= 1.0
    consul.failures.clear()
    assert wait_for(lambda: d.get("/has/web/127.0.0.5")[0] == 200, timeout=6)


def test_token_is_sent_and_never_logged(daemon, tmp_path):
    from consul_fake import FakeConsul
    c = FakeConsul(token="s3cr3t-token-value")
    try:
        c.register("n1", "127.0.0.5", "web")
        d = daemon(*ep(c), env={"CONSUL_HTTP_TOKEN": c.token})
        assert d.get("/has/web/127.0.0.5")[0] == 200
        f = tmp_path / "tok"
        f.write_text("wrong\n")
        d2 = daemon(*ep(c), "--token-file", str(f), "--no-watch")
        code, body, _ = d2.get("/has/web/127.0.0.5")
        assert code == 500 and b"403" in body
        rc, out, err = d.stop()
        assert rc == 0 and c.token not in err + out
        assert all(r.headers.get("x-consul-token") in (c.token, "wrong") for r in c.requests)
    finally:
        c.stop()


def test_access_log_records_the_real_status(consul, daemon, tmp_path):
    consul.register("n1", "127.0.0.5", "web")
    logdir = tmp_path / "logs"
    d = daemon(*ep(consul), "--access-log-dir", str(logdir))
    d.get("/has/web/127.0.0.5", headers={"User-Agent": "hc/1"})
    d.get("/has/web/127.0.0.9")
    current = logdir / "current"
    assert current.is_symlink() and os.readlink(current).startswith("access_log.")
    assert not os.path.isabs(os.readlink(current))
    # the line is written just after the answer is sent
    assert wait_for(lambda: "127.0.0.9" in current.read_text(), timeout=5)
    recs = [json.loads(ln) for ln in current.read_text().splitlines()]
    assert [(r["uri"], r["status"]) for r in recs[-2:]] == [("/has/web/127.0.0.5", 200), ("/has/web/127.0.0.9", 404)]
    r = recs[-2]
    assert set(r) == {"time", "remote_addr", "method", "uri", "status", "size", "ua", "ptime", "host", "chocon_req"}
    assert (r["remote_addr"], r["method"], r["size"], r["ua"]) == ("127.0.0.1", "GET", 11, "hc/1")


def test_access_log_stderr_stdout_none(consul, daemon):
    consul.register("n1", "127.0.0.5", "web")
    for where, stream in (("", 2), ("stdout", 1), ("none", None)):
        d = daemon(*ep(consul), *(["--access-log-dir", where] if where else []))
        d.get("/has/web/127.0.0.5")
        rc, out, err = d.stop()
        assert rc == 0
        lines = {1: out, 2: err}
        for s in (1, 2):
            has = '"uri":"/has/web/127.0.0.5"' in lines[s]
            assert has == (s == stream), (where, s, lines[s][-500:])


def test_sigterm_lets_a_request_finish_then_exits_0(consul, daemon):
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--no-watch", "--access-log-dir", "none")
    consul.fail("slow", count=1, delay=1.0)
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", d.get("/has/web/127.0.0.5")))
    t.start()
    assert wait_for(lambda: consul.seen("GET", "/v1/health/service/web"), timeout=5)
    d.proc.send_signal(signal.SIGTERM)
    t.join(10)
    assert got["r"][0] == 200, "the request in progress got its answer"
    rc, _, err = d.stop()
    assert rc == 0 and "shutting down" in err and "Traceback" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.port), timeout=1).close()


def test_sigint_and_shutdown_timeout(consul, daemon):
    d = daemon(*ep(consul), "--no-watch", "--shutdown-timeout", "300ms", "--access-log-dir", "none")
    consul.fail("slow", count=1, delay=5.0)
    threading.Thread(target=lambda: _ignore(d.get, "/has/web/127.0.0.5"), daemon=True).start()
    assert wait_for(lambda: consul.seen("GET", "/v1/health/service/web"), timeout=5)
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGINT)
    rc, _, err = d.stop(timeout=10)
    assert rc == 0 and time.monotonic() - t0 < 4, err


def _ignore(f, *a):
    try:
        f(*a)
    except OSError:
        pass


def test_inherited_socket_server_starter(consul):
    consul.register("n1", "127.0.0.5", "web")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    port = s.getsockname()[1]
    fd = s.fileno()
    d = Daemon([*ep(consul), "--access-log-dir", "none"], env={"SERVER_STARTER_PORT": f"127.0.0.1:{port}={fd}"},
               port=port, pass_fds=(fd,))
    try:
        assert d.get("/has/web/127.0.0.5")[0] == 200
    finally:
        rc, _, err = d.stop()
        s.close()
    assert rc == 0 and f"127.0.0.1:{port}" in err


def test_ipv6_listener(consul, daemon):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--access-log-dir", "none", host="::1")
    assert d.get("/has/web/127.0.0.5")[0] == 200


def test_keep_alive_and_pipelining(consul, daemon):
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--access-log-dir", "none")
    d.get("/has/web/127.0.0.5")
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as c:
        c.sendall(b"GET /has/web/127.0.0.5 HTTP/1.1\r\nHost: x\r\n\r\nGET /has/web/127.0.0.9 HTTP/1.1\r\n"
                  b"Host: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    assert data.count(b"HTTP/1.1 200 OK") == 1 and data.count(b"HTTP/1.1 404 Not Found") == 1


def test_read_timeout(consul, daemon):
    d = daemon(*ep(consul), "--read-timeout", "300ms", "--access-log-dir", "none")
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as c:
        c.sendall(b"GET /has/web/127.0.0.5 HTTP/1.1\r\n")
        t0 = time.monotonic()
        data = c.recv(65536)
        assert b" 408 " in data and time.monotonic() - t0 < 3


def test_usage_errors(run_cmd):
    from conftest import exe
    r = run_cmd([exe()], env={"CONSUL_HTTP_ADDR": ""})
    assert r.returncode == 2 and b"--consul-api-endpoint" in r.stderr
    r = run_cmd([exe(), "--consul-api-endpoint", "http://x", "--read-timeout", "5"])
    assert r.returncode == 2 and b"missing unit" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_cmd([exe(), "-consul-api-endpoint", "http://127.0.0.1:1", "-l", "127.0.0.1", "-p", str(port)],
                    timeout=30)
    assert r.returncode == 1 and b"cannot listen" in r.stderr, r.stderr   # Go spelling accepted; port taken


def test_inherited_socket_systemd(consul):
    # systemd socket activation: fd 3, LISTEN_FDS=1, LISTEN_PID = the daemon's own pid (the shell
    # that execs it keeps its pid)
    consul.register("n1", "127.0.0.5", "web")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    port = s.getsockname()[1]
    fd = s.fileno()
    import subprocess

    from conftest import exe
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_HTTP")}
    p = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', exe(),
                          *ep(consul), "--access-log-dir", "none"], pass_fds=(3, fd),
                         preexec_fn=lambda: os.dup2(fd, 3), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    s.close()
    try:
        import http.client

        def up():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/has/web/127.0.0.5")
                return c.getresponse().status
            except OSError:
                return None
        assert wait_for(up, timeout=10) == 200
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15)
    assert p.returncode == 0 and f"127.0.0.1:{port}" in err.decode()


def test_sighup_reopens_the_access_log(consul, daemon, tmp_path):
    consul.register("n1", "127.0.0.5", "web")
    logdir = tmp_path / "logs"
    d = daemon(*ep(consul), "--access-log-dir", str(logdir))
    d.get("/has/web/127.0.0.5")
    cur = logdir / "current"
    target = logdir / os.readlink(cur)
    assert wait_for(lambda: target.exists() and "127.0.0.5" in target.read_text())
    target.rename(logdir / "moved")
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: target.exists(), timeout=5), "reopened under today's name"
    d.get("/has/web/127.0.0.9")
    assert wait_for(lambda: "127.0.0.9" in target.read_text(), timeout=5)
    assert "127.0.0.9" not in (logdir / "moved").read_text()
    assert d.proc.poll() is None


def test_http10_keep_alive_is_announced(consul, daemon):
    # ab -k speaks HTTP/1.0 with Connection: Keep-Alive and keeps the connection only when the
    # answer says keep-alive
    consul.register("n1", "127.0.0.5", "web")
    d = daemon(*ep(consul), "--access-log-dir", "none")
    d.get("/has/web/127.0.0.5")
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as c:
        for _ in range(2):
            c.sendall(b"GET /has/web/127.0.0.5 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            data = c.recv(65536)
            assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: keep-alive\r\n" in data, data
        c.sendall(b"GET /has/web/127.0.0.5 HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        assert b"Connection: close\r\n" in data
