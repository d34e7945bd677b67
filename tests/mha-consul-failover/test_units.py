"""The plain functions: where Consul is, the token, addresses compared as addresses, retries."""
from __future__ import annotations

import pytest
from mha_consul_failover import consul, failover


def test_base_url():
    assert consul.base_url(None, {}) == "http://127.0.0.1:8500"
    assert consul.base_url(None, {"CONSUL_HTTP_ADDR": "10.1.2.3:8500"}) == "http://10.1.2.3:8500"
    assert consul.base_url(None, {"CONSUL_HTTP_ADDR": "c:8501", "CONSUL_HTTP_SSL": "true"}) == "https://c:8501"
    assert consul.base_url("http://x:1/", {"CONSUL_HTTP_ADDR": "y:2"}) == "http://x:1"
    with pytest.raises(ValueError):
        consul.base_url("unix:///tmp/consul.sock", {})
    with pytest.raises(ValueError):
        consul.base_url("ftp://x", {})


def test_read_token(tmp_path):
    f = tmp_path / "t"
    f.write_text("  abc\n")
    assert consul.read_token(None, {}) is None
    assert consul.read_token(None, {"CONSUL_HTTP_TOKEN": "e"}) == "e"
    assert consul.read_token(str(f), {"CONSUL_HTTP_TOKEN": "e"}) == "abc"
    assert consul.read_token(None, {"CONSUL_HTTP_TOKEN_FILE": str(f)}) == "abc"
    with pytest.raises(OSError):
        consul.read_token(str(tmp_path / "missing"), {})


@pytest.mark.parametrize("a,b,same", [
    ("10.0.0.1", "10.0.0.1", True), ("10.0.0.1", "10.0.0.2", False),
    ("::1", "0:0:0:0:0:0:0:1", True), ("::ffff:10.0.0.1", "10.0.0.1", True),
    ("db1", "db1", True), ("db1", "10.0.0.1", False),
])
def test_same_ip(a, b, same):
    assert failover.same_ip(a, b) is same


def test_address_of():
    assert failover.address_of({"Address": "1.1.1.1", "ServiceAddress": ""}) == "1.1.1.1"
    assert failover.address_of({"Address": "1.1.1.1", "ServiceAddress": "2.2.2.2"}) == "2.2.2.2"


def test_retries_are_bounded_and_back_off():
    slept = []
    c = consul.Client("http://127.0.0.1:9", timeout=0.2, retries=3, sleep=slept.append)
    calls = []

    def once(method, url, data):
        calls.append(url)
        raise consul.ConsulError("unreachable", "refused")
    c._once = once
    with pytest.raises(consul.ConsulError) as e:
        c.call("GET", "/v1/status/leader")
    assert len(calls) == 4 and e.value.attempts == 4
    assert slept == [0.2, 0.4, 0.8]


def test_consul_addr_placeholders_name_the_master_of_the_command():
    from mha_consul_failover.cli import _fill
    from mha_consul_failover.failover import Master
    m = Master(host="db2", ip="10.0.0.12", port=3306)
    assert _fill("http://{ip}:8500", m) == "http://10.0.0.12:8500"
    assert _fill("http://{host}:8500", m) == "http://db2:8500"
    assert _fill("http://{ip}:8500", Master(host="db2", ip="fd00::12", port=3306)) == "http://[fd00::12]:8500"
    assert _fill("http://c:8500", m) == "http://c:8500" and _fill(None, m) is None
