"""mha-consul-failover run the way MHA runs it, against the fake Consul: a full failover (status,
stop/stopssh, start, read back), an online master switch, idempotence, the ACL token, timeouts
and bounded retries. The argument lists are MHA's (MasterFailover.pm / MasterRotate.pm, as in
the sample master_ip_failover and master_ip_online_change scripts)."""
from __future__ import annotations

import time

import pytest
from conftest import run_as_mha
from consul_fake import FakeConsul, free_port

SVC = "mysql-master"
OLD_IP, NEW_IP = "127.0.0.11", "127.0.0.12"
PASSWORD = "mha-s3cret-pw"

STATUS = f"--command=status --ssh_user=root --orig_master_host=db1 --orig_master_ip={OLD_IP} --orig_master_port=3306"
STOPSSH = f"--command=stopssh --ssh_user=root --orig_master_host=db1 --orig_master_ip={OLD_IP} --orig_master_port=3306"
STOP = f"--command=stop --ssh_user=root --orig_master_host=db1 --orig_master_ip={OLD_IP} --orig_master_port=3306"
START = (f"--command=start --ssh_user=root --orig_master_host=db1 --orig_master_ip={OLD_IP} "
         f"--orig_master_port=3306 --new_master_host=db2 --new_master_ip={NEW_IP} --new_master_port=3306 "
         f"--new_master_user='mha' --new_master_password='{PASSWORD}'")
ONLINE = (f"--orig_master_host=db1 --orig_master_ip={OLD_IP} --orig_master_port=3306 "
          f"--orig_master_user='mha' --orig_master_password='{PASSWORD}' --new_master_host=db2 "
          f"--new_master_ip={NEW_IP} --new_master_port=3306 --new_master_user='mha' "
          f"--new_master_password='{PASSWORD}' --orig_master_ssh_user=root --new_master_ssh_user=root")


def ours(c: FakeConsul, *extra: str) -> str:
    return " ".join([f"--consul-addr={c.url}", f"--service-name={SVC}", *extra])


def no_secrets(r, *secrets):
    for s in (PASSWORD, *secrets):
        assert s not in r.out and s not in r.err


def test_full_failover(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    consul.register("db3", "127.0.0.13", "other", port=3306)
    s = ours(consul, "--tag=primary")

    r = run_as_mha(s, STATUS)
    assert r.rc == 0, r.out + r.err
    assert r.step("status")[0]["orig_master_registered"] is True
    assert r.lines[-1] == {**r.lines[-1], "step": "done", "result": "ok", "exit": 0}

    n = len(consul.requests)
    r = run_as_mha(s, STOPSSH)
    assert r.rc == 0, r.out + r.err
    assert r.step("deregister")[0]["result"] == "ok"
    assert consul.instances(SVC) == []
    sent = consul.requests[n:]
    puts = [q for q in sent if q.method == "PUT"]
    assert [(q.path, q.body) for q in puts] == [("/v1/catalog/deregister", {"Node": "db1", "ServiceID": SVC})]
    assert sent[0].method == "GET" and sent[-1].method == "GET", "looked up first, read back last"

    n = len(consul.requests)
    r = run_as_mha(s, START)
    assert r.rc == 0, r.out + r.err
    assert consul.instances(SVC) == [{"node": "db2", "address": NEW_IP, "service_address": NEW_IP,
                                      "port": 3306, "tags": ["primary"], "id": SVC}]
    puts = [q for q in consul.requests[n:] if q.method == "PUT"]
    assert len(puts) == 1 and puts[0].path == "/v1/catalog/register"
    assert puts[0].body == {"Node": "db2", "Address": NEW_IP, "SkipNodeUpdate": True,
                            "Service": {"ID": SVC, "Service": SVC, "Tags": ["primary"], "Address": NEW_IP,
                                        "Port": 3306, "Meta": {}}}
    assert r.step("read back")[0]["result"] == "ok"
    assert consul.requests[-1].method == "GET"
    no_secrets(r)
    assert consul.instances("other")[0]["node"] == "db3", "another service is left alone"


def test_dead_master_stop_then_start(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    s = ours(consul)
    assert run_as_mha(s, STOP).rc == 0
    assert run_as_mha(s, START).rc == 0
    assert [i["address"] for i in consul.instances(SVC)] == [NEW_IP]


def test_online_master_switch(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    s = ours(consul)
    r = run_as_mha(s, f"--command=stop {ONLINE} --orig_master_is_new_slave")
    assert r.rc == 0, r.out + r.err
    assert consul.instances(SVC) == []
    r = run_as_mha(s, f"--command=start {ONLINE} --orig_master_is_new_slave")
    assert r.rc == 0, r.out + r.err
    assert [i["address"] for i in consul.instances(SVC)] == [NEW_IP]
    no_secrets(r)


def test_idempotent(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    s = ours(consul)
    assert run_as_mha(s, STOPSSH).rc == 0
    n = len(consul.requests)
    r = run_as_mha(s, STOPSSH)
    assert r.rc == 0 and r.step("deregister")[0]["result"] == "already gone"
    assert all(q.method == "GET" for q in consul.requests[n:])
    assert run_as_mha(s, START).rc == 0
    n = len(consul.requests)
    r = run_as_mha(s, START)
    assert r.rc == 0 and r.step("register")[0]["result"] == "already registered"
    assert all(q.method == "GET" for q in consul.requests[n:])


def test_stop_leaves_another_address_alone(consul):
    # the service already points at the new master (a re-run after a partial failover): stop of
    # the old one must not deregister it
    consul.register("db2", NEW_IP, SVC, port=3306)
    r = run_as_mha(ours(consul), STOP)
    assert r.rc == 0 and r.step("deregister")[0]["result"] == "already gone"
    assert [i["address"] for i in consul.instances(SVC)] == [NEW_IP]


def test_service_address_and_ipv6_compared_as_addresses(consul):
    consul.register("db1", "127.0.0.99", SVC, port=3306, service_address="::1")
    r = run_as_mha(ours(consul), STOP.replace(OLD_IP, "0:0:0:0:0:0:0:1"))
    assert r.rc == 0 and r.step("deregister")[0]["result"] == "ok"
    assert consul.instances(SVC) == []


def test_token_from_environment_and_file(consul_acl, tmp_path):
    c = consul_acl
    c.register("db1", OLD_IP, SVC, port=3306)
    tok = c.token
    runs = []
    r = run_as_mha(ours(c), STATUS, env={"CONSUL_HTTP_TOKEN": tok})
    runs.append(r)
    assert r.rc == 0, r.out
    assert c.requests[-1].headers["x-consul-token"] == tok
    f = tmp_path / "token"
    f.write_text(tok + "\n")
    f.chmod(0o600)
    r = run_as_mha(ours(c, f"--token-file={f}"), STOPSSH)
    runs.append(r)
    assert r.rc == 0, r.out
    assert all(q.headers.get("x-consul-token") == tok for q in c.requests)
    r = run_as_mha(ours(c), START, env={"CONSUL_HTTP_TOKEN_FILE": str(f)})
    runs.append(r)
    assert r.rc == 0, r.out
    for r in runs:
        no_secrets(r, tok)


def test_bad_or_missing_token_fails_at_once(consul_acl):
    c = consul_acl
    r = run_as_mha(ours(c), STATUS, env={"CONSUL_HTTP_TOKEN": "wrong-token-value"})
    assert r.rc == 1
    err = r.step("status")[0]
    assert err["http_status"] == 403 and "ACL not found" in err["error"] and err["attempts"] == 1
    assert len(c.requests) == 1, "a 403 is not retried"
    no_secrets(r, "wrong-token-value")
    r = run_as_mha(ours(c), STATUS)
    assert r.rc == 1 and "Permission denied" in r.step("status")[0]["error"]


def test_token_never_on_argv(consul):
    r = run_as_mha(ours(consul, "--token=abc"), STATUS)
    assert r.rc == 2 and "unrecognized arguments: --token" in r.err


def test_500_is_retried_then_succeeds(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    consul.fail("500", count=1, path="/v1/catalog/deregister")
    r = run_as_mha(ours(consul), STOPSSH)
    assert r.rc == 0, r.out
    assert r.step("deregister")[0]["attempts"] == 2
    assert consul.instances(SVC) == []


def test_persistent_500_is_bounded_and_stops_the_sequence(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    consul.fail("500", count=100, path="/v1/catalog/deregister")
    r = run_as_mha(ours(consul, "--retries=2"), STOPSSH)
    assert r.rc == 1
    assert len(consul.seen("PUT", "/v1/catalog/deregister")) == 3, "1 try + 2 retries"
    assert r.lines[-1]["result"] == "failed" and r.lines[-1]["failed_step"] == "deregister"
    assert not r.step("read back"), "no step after a failed one"


def test_bad_json_is_retried(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    consul.fail("badjson", count=1, path="/v1/catalog/service/")
    r = run_as_mha(ours(consul), STATUS)
    assert r.rc == 0, r.out
    consul.fail("badjson", count=10, path="/v1/catalog/service/")
    r = run_as_mha(ours(consul, "--retries=1"), STATUS)
    assert r.rc == 1 and r.step("status")[0]["kind"] == "badjson"


def test_slow_consul_times_out_within_bounds(consul):
    consul.fail("slow", count=10, path="/v1/catalog/service/", delay=3.0)
    t0 = time.monotonic()
    r = run_as_mha(ours(consul, "--timeout=300ms", "--retries=1"), STATUS)
    took = time.monotonic() - t0
    assert r.rc == 1 and r.step("status")[0]["kind"] == "timeout"
    assert r.step("status")[0]["attempts"] == 2
    assert took < 2.5, took


def test_refused(consul):
    r = run_as_mha(f"--consul-addr=127.0.0.1:{free_port()} --service-name={SVC} --retries=1", STATUS)
    assert r.rc == 1 and r.step("status")[0]["kind"] == "unreachable"
    assert "refused" in r.step("status")[0]["error"].lower()


def test_reset_connection_is_retried(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    consul.fail("reset", count=1, path="/v1/catalog/register")
    r = run_as_mha(ours(consul), START)
    assert r.rc == 0, r.out
    assert r.step("register")[0]["attempts"] == 2


def test_consul_addr_from_environment(consul):
    r = run_as_mha(f"--service-name={SVC}", STATUS, env={"CONSUL_HTTP_ADDR": consul.addr})
    assert r.rc == 0, r.out + r.err
    assert consul.seen("GET", f"/v1/catalog/service/{SVC}")


def test_agent_mode(consul):
    s = ours(consul, "--use-agent")
    r = run_as_mha(s, START)
    assert r.rc == 0, r.out
    put = consul.seen("PUT")[0]
    assert put.path == "/v1/agent/service/register"
    assert put.body == {"ID": SVC, "Name": SVC, "Tags": [], "Address": NEW_IP, "Port": 3306, "Meta": {}}
    r = run_as_mha(s, STOPSSH.replace(OLD_IP, NEW_IP))
    assert r.rc == 0 and r.step("deregister")[0]["result"] == "ok"
    assert consul.seen("PUT")[-1].path == f"/v1/agent/service/deregister/{SVC}"
    r = run_as_mha(s, STOPSSH)
    assert r.rc == 0 and r.step("deregister")[0]["result"] == "already gone"


def test_health_read_back_waits_for_passing_and_gives_up(consul):
    # a node whose serfHealth is critical: the instance is in the catalog but not ?passing
    consul.register("db2", NEW_IP, "node-only")
    consul.nodes["db2"]["Address"] = NEW_IP
    with consul.cond:
        consul.checks[("db2", "serfHealth")] = {"Node": "db2", "CheckID": "serfHealth", "Name": "Serf",
                                                "Status": "critical", "ServiceID": "", "ServiceName": ""}
    t0 = time.monotonic()
    r = run_as_mha(ours(consul, "--read-back=health", "--read-back-timeout=1s"), START)
    assert r.rc == 1, r.out
    assert r.step("read back")[-1]["result"] == "error"
    assert time.monotonic() - t0 < 8
    assert any(q.query.get("passing") for q in consul.seen("GET", "/v1/health/service/"))
    consul.set_check("db2", "serfHealth", "passing")
    r = run_as_mha(ours(consul, "--read-back=health"), START)
    assert r.rc == 0, r.out


def test_config_file(consul, tmp_path):
    conf = tmp_path / "consul.toml"
    conf.write_text(f'consul_addr = "{consul.url}"\nservice_name = "db"\nservice_id = "db-primary"\n'
                    'tags = ["primary", "v1"]\nservice_port = 6033\nnode = "mha-external"\n'
                    'meta = { cluster = "c1" }\n')
    r = run_as_mha(f"--config={conf}", START)
    assert r.rc == 0, r.out + r.err
    assert consul.instances("db") == [{"node": "mha-external", "address": NEW_IP, "service_address": NEW_IP,
                                       "port": 6033, "tags": ["primary", "v1"], "id": "db-primary"}]
    assert consul.seen("PUT")[0].body["Service"]["Meta"] == {"cluster": "c1"}
    conf.write_text('service_name = "db"\ntoken = "x"\n')
    r = run_as_mha(f"--config={conf}", STATUS)
    assert r.rc == 2 and "unknown keys: token" in r.err


@pytest.mark.parametrize("args,why", [
    ("", "--command"),
    (STATUS.replace("--command=status", "--command=bogus"), "invalid choice"),
    ("--bogus-flag " + STATUS, "unrecognized arguments: --bogus-flag"),
])
def test_usage_errors(consul, args, why):
    r = run_as_mha(ours(consul), args)
    assert r.rc == 2 and "mha-consul-failover: error: " in r.err and why in r.err, r.err


def test_missing_service_name_and_master(consul):
    r = run_as_mha(f"--consul-addr={consul.url}", STATUS)
    assert r.rc == 2 and "--service-name" in r.err
    r = run_as_mha(ours(consul), "--command=start --ssh_user=root")
    assert r.rc == 2 and "--new_master_ip" in r.err


def test_newer_mha_arguments_are_tolerated(consul):
    consul.register("db1", OLD_IP, SVC, port=3306)
    r = run_as_mha(ours(consul), STATUS + " --orig_master_some_new_thing=1")
    assert r.rc == 0, r.err
    assert r.lines[0]["ignored_args"] == ["--orig_master_some_new_thing"]
