"""ecs-exec-pf as a subprocess against moto's server (ECS) and the patched SSM calls, with the fake
session-manager-plugin first on PATH: real TCP round trips through the forwards, real signals."""
import os
import signal
import socket
import subprocess
import time

import pytest
from ecspf_support import EXE, Running, pid_alive, plugin_runs, roundtrip


def run(args, env, timeout=60):
    return subprocess.run([EXE, *args], env={**os.environ, **env}, capture_output=True, timeout=timeout)


def test_print_target(aws_env, ecs_task):
    r = run(["-c", ecs_task.cluster, "-t", ecs_task.id, "--print-target"], aws_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"ecs:{ecs_task.cluster}_{ecs_task.id}_{ecs_task.runtime_id}\n"
    # a task ARN works as well as its id; single-dash upstream spellings too
    r = run(["-cluster", ecs_task.cluster, "-task", ecs_task.arn, "--print-target"], aws_env)
    assert r.stdout.decode().startswith(f"ecs:{ecs_task.cluster}_{ecs_task.id}_")


def test_service_picks_its_task(aws_env, ecs_task):
    r = run(["-c", ecs_task.cluster, "--service", "api", "--print-target"], aws_env)
    assert r.returncode == 0, r.stderr
    assert ecs_task.id in r.stdout.decode()


@pytest.mark.parametrize("shape,status,needle", [
    ({"status": "STOPPED"}, 5, b"not RUNNING"),
    ({"exec_enabled": False}, 6, b"execute command is not enabled"),
    ({"agent": "STOPPED"}, 7, b"ExecuteCommandAgent"),
    ({"agent": None}, 7, b"ExecuteCommandAgent"),
])
def test_preflight_failures(aws_env, ecs_task, moto_server, shape, status, needle):
    ecs_task.shape(**shape)
    before = len(moto_server.ssm.of("start"))
    r = run(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", "80", "-l", "0"], aws_env)
    assert r.returncode == status, r.stderr
    assert needle in r.stderr
    assert b"Traceback" not in r.stderr
    assert len(moto_server.ssm.of("start")) == before, "no session before the preflight passed"


def test_task_and_container_not_found(aws_env, ecs_task):
    r = run(["-c", ecs_task.cluster, "-t", "0123456789abcdef", "-p", "80"], aws_env)
    assert r.returncode == 4, r.stderr
    r = run(["-c", ecs_task.cluster, "-t", ecs_task.id, "-n", "nope", "-p", "80"], aws_env)
    assert r.returncode == 4 and b"container nope not found" in r.stderr


def test_missing_plugin(aws_env, ecs_task):
    env = {**aws_env, "PATH": "/usr/bin:/bin"}
    r = subprocess.run([EXE, "-c", ecs_task.cluster, "-t", ecs_task.id, "-p", "80"], env={**os.environ, **env},
                       capture_output=True, timeout=60)
    assert r.returncode == 3
    assert b"session-manager-plugin not found" in r.stderr


def test_bad_credentials_is_an_aws_error(aws_env, ecs_task):
    env = {**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens there
    r = run(["-c", ecs_task.cluster, "-t", ecs_task.id, "--print-target"], {**env, "AWS_MAX_ATTEMPTS": "1"})
    assert r.returncode == 8, r.stderr
    assert b"Traceback" not in r.stderr


def test_two_forwards_roundtrip_then_ctrl_c_cleans_up(aws_env, ecs_task, moto_server, echo_server):
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-L", f"0:localhost:{echo_server}",
                 "-L", f":127.0.0.2:{echo_server}"], aws_env)
    try:
        opened = p.wait_event("port_opened", 2)
        ports = [e["local_port"] for e in opened]
        assert all(ports) and len(set(ports)) == 2
        for port in ports:
            assert roundtrip(port, b"hello through ssm\n" * 1000) == b"hello through ssm\n" * 1000
        started = p.wait_event("session_started", 2)
        pids = [e["pid"] for e in started]
        sids = {e["session_id"] for e in started}
        rc = p.stop(signal.SIGINT)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 130
    assert not [pid for pid in pids if pid_alive(pid)], "no orphan plugin"
    terminated = {b["SessionId"] for b in moto_server.ssm.of("terminate")}
    assert sids <= terminated, "every session is terminated"

    runs = plugin_runs(aws_env)
    assert len(runs) == 2
    for r in runs:
        argv = r["argv"]
        assert argv[1] == "AWS_SSM_START_SESSION_RESPONSE" and r["via"] == "env"
        assert argv[2:5] == ["us-east-1", "StartSession", ""]
        assert argv[6] == moto_server.url
        assert not any("secret-token" in a for a in argv), "the token never goes on argv"
        assert r["response"]["TokenValue"].startswith("secret-token-")
        assert argv[5].count(f"ecs:{ecs_task.cluster}_{ecs_task.id}_{ecs_task.runtime_id}") == 1
    # the second forward goes to a remote host through the task
    starts = moto_server.ssm.of("start")[-2:]
    docs = sorted(s["DocumentName"] for s in starts)
    assert docs == ["AWS-StartPortForwardingSession", "AWS-StartPortForwardingSessionToRemoteHost"]
    remote = next(s for s in starts if s["DocumentName"].endswith("RemoteHost"))
    assert remote["Parameters"]["host"] == ["127.0.0.2"]


def test_upstream_flags_forward_and_sigterm(aws_env, ecs_task, moto_server, echo_server):
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0"], aws_env)
    try:
        port = p.wait_event("port_opened")[0]["local_port"]
        assert roundtrip(port, b"x") == b"x"
        sid = p.wait_event("session_started")[0]["session_id"]
        rc = p.stop(signal.SIGTERM)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 143
    assert sid in {b["SessionId"] for b in moto_server.ssm.of("terminate")}


def test_plugin_ignoring_sigint_is_killed(aws_env, ecs_task, echo_server):
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0"],
                {**aws_env, "FAKE_PLUGIN_IGNORE_SIGINT": "1"})
    try:
        pid = p.wait_event("session_started")[0]["pid"]
        p.wait_event("port_opened")
        rc = p.stop(signal.SIGINT, timeout=20)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 130
    assert not pid_alive(pid)


def test_dropped_session_without_reconnect_ends_the_run(aws_env, ecs_task, moto_server, echo_server):
    r = run(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0"],
            {**aws_env, "FAKE_PLUGIN_DIE_AFTER": "0.5"}, timeout=30)
    assert r.returncode == 1, r.stderr
    assert b"plugin exit status 1" in r.stderr
    # why it ended: the plugin's last words, without -d (they used to be shown only with -d)
    assert b"Session dropped (fake)" in r.stderr


def test_reconnect_opens_a_new_session(aws_env, ecs_task, moto_server, echo_server, tmp_path):
    env = {**aws_env, "FAKE_PLUGIN_DIE_AFTER": "0.5", "FAKE_PLUGIN_DIE_ONCE": str(tmp_path / "died")}
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0", "--reconnect"], env)
    try:
        p.wait_event("plugin_exited")
        p.wait_event("reconnect")
        port = p.wait_event("port_opened", 2)[1]["local_port"]
        assert roundtrip(port, b"again") == b"again"
        sids = [e["session_id"] for e in p.wait_event("session_started", 2)]
        assert len(set(sids)) == 2
        rc = p.stop(signal.SIGINT)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 130
    assert set(sids) <= {b["SessionId"] for b in moto_server.ssm.of("terminate")}


def test_task_stop_stops_the_sessions(aws_env, ecs_task, moto_server, echo_server):
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0",
                 "--watch-interval", "0.3"], aws_env)
    try:
        pid = p.wait_event("session_started")[0]["pid"]
        p.wait_event("port_opened")
        ecs_task.shape(status="STOPPED")
        rc = p.proc.wait(20)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 5
    assert any(e["event"] == "task_stopped" for e in p.events)
    assert not pid_alive(pid)


def test_public_relay(aws_env, ecs_task, echo_server):
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0", "--public"], aws_env)
    try:
        ev = p.wait_event("port_opened")[0]
        assert ev["local_address"] == "0.0.0.0"
        assert roundtrip(ev["local_port"], b"public") == b"public"
        p.stop(signal.SIGINT)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    # the plugin itself was asked for an ephemeral localhost port
    assert plugin_runs(aws_env)[0]["argv"][5].count('"localPortNumber": ["0"]') == 1


def test_old_plugin_gets_the_response_on_argv_with_a_warning(aws_env, ecs_task, echo_server):
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0"],
                {**aws_env, "FAKE_PLUGIN_VERSION": "1.2.295.0"})
    try:
        p.wait_event("port_opened")
        p.stop(signal.SIGINT)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert plugin_runs(aws_env)[0]["via"] == "argv"
    assert any(e["event"] == "warning" for e in p.events)


def test_aws_region_alone_is_enough(aws_env, ecs_task):
    """README: AWS_REGION works (boto3 itself reads only AWS_DEFAULT_REGION and the profile)."""
    env = {k: v for k, v in {**os.environ, **aws_env}.items() if k != "AWS_DEFAULT_REGION"}
    r = subprocess.run([EXE, "-c", ecs_task.cluster, "-t", ecs_task.id, "--print-target"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ecs_task.id in r.stdout.decode()


def test_cluster_not_found_is_not_found(aws_env, ecs_task):
    r = run(["-c", "no-such-cluster", "-t", ecs_task.id, "--print-target"], aws_env)
    assert r.returncode == 4, r.stderr
    assert b"no-such-cluster" in r.stderr and b"Traceback" not in r.stderr


def test_public_relay_on_a_busy_port_fails_cleanly(aws_env, ecs_task, moto_server, echo_server):
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen(1)
    try:
        p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l",
                     str(busy.getsockname()[1]), "--public"], aws_env)
        try:
            pid = p.wait_event("session_started")[0]["pid"]
            sid = p.wait_event("session_started")[0]["session_id"]
            rc = p.proc.wait(20)
            p.wait_event("session_terminated")
        finally:
            if p.proc.poll() is None:
                p.proc.kill()
    finally:
        busy.close()
    err = b"".join(p.raw)
    assert rc == 1, err
    assert b"Traceback" not in err
    assert any(e["event"] == "relay_failed" for e in p.events), err
    assert not pid_alive(pid)
    assert sid in {b["SessionId"] for b in moto_server.ssm.of("terminate")}


def test_reconnect_survives_failed_start_session_calls(aws_env, ecs_task, moto_server, echo_server, tmp_path):
    """A session drops (the network blipped) and the first StartSession calls of the reconnect
    fail too: --reconnect keeps trying with back-off instead of ending the run (it used to exit 8)."""
    env = {**aws_env, "FAKE_PLUGIN_DIE_AFTER": "1.0", "FAKE_PLUGIN_DIE_ONCE": str(tmp_path / "died"),
           "AWS_MAX_ATTEMPTS": "1"}
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0", "--reconnect"], env)
    try:
        p.wait_event("session_started")
        moto_server.ssm.fail_starts = 2
        p.wait_event("plugin_exited")
        failed = p.wait_event("reconnect_failed", 2)
        assert all("injected StartSession failure" in e["message"] for e in failed)
        port = p.wait_event("port_opened", 2)[1]["local_port"]
        assert roundtrip(port, b"back") == b"back"
        rc = p.stop(signal.SIGINT)
    finally:
        moto_server.ssm.fail_starts = 0
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 130


def test_plugins_die_with_a_killed_ecs_exec_pf(aws_env, ecs_task, echo_server):
    """kill -9 leaves no way to clean up, but it must not leave plugins listening forever (they
    run in their own process groups, so nothing else would stop them)."""
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-L", f"0:localhost:{echo_server}",
                 "-L", f"0:127.0.0.2:{echo_server}"], aws_env)
    pids: list[int] = []
    try:
        pids = [e["pid"] for e in p.wait_event("session_started", 2)]
        p.wait_event("port_opened", 2)
        p.proc.kill()
        p.proc.wait(10)
        deadline = time.monotonic() + 10
        while any(pid_alive(x) for x in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [x for x in pids if pid_alive(x)]
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        for x in pids:
            try:
                os.kill(x, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not alive, "orphan plugins"


@pytest.mark.parametrize("public", [False, True])
def test_reconnect_keeps_the_local_port_of_l_0(aws_env, ecs_task, echo_server, tmp_path, public):
    """-l 0 picks a free port once; clients that were told it must find it again after a
    reconnect (the new session used to get another ephemeral port, or --public another relay)."""
    env = {**aws_env, "FAKE_PLUGIN_DIE_AFTER": "0.5", "FAKE_PLUGIN_DIE_ONCE": str(tmp_path / "died")}
    p = Running(["-c", ecs_task.cluster, "-t", ecs_task.id, "-p", str(echo_server), "-l", "0", "--reconnect",
                 *(["--public"] if public else [])], env)
    try:
        first = p.wait_event("port_opened")[0]["local_port"]
        p.wait_event("reconnect")
        second = p.wait_event("port_opened", 2)[1]["local_port"]
        assert second == first
        assert roundtrip(second, b"same port") == b"same port"
        rc = p.stop(signal.SIGINT)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
    assert rc == 130
