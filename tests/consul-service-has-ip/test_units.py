"""The plain parts: the membership rule, listen addresses, the access log's files."""
from __future__ import annotations

import ipaddress
import json
import os
import time

import pytest
from consul_service_has_ip import accesslog, cli, consul


def test_addresses_service_then_node():
    entries = [{"Node": {"Address": "10.0.0.1"}, "Service": {"Address": "10.0.0.2"}},
               {"Node": {"Address": "10.0.0.3"}, "Service": {"Address": ""}},
               {"Node": {"Address": "::ffff:10.0.0.4"}, "Service": {}},
               {"Node": {"Address": "host.example"}, "Service": {}}]
    got = consul.addresses(entries)
    assert got == {ipaddress.ip_address("10.0.0.2"), ipaddress.ip_address("10.0.0.3"),
                   ipaddress.ip_address("10.0.0.4"), "host.example"}
    with pytest.raises(consul.ConsulError):
        consul.addresses({"not": "a list"})


def test_parse_ip():
    assert consul.parse_ip("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    assert consul.parse_ip("::ffff:1.2.3.4") == ipaddress.ip_address("1.2.3.4")
    assert consul.parse_ip("1.2.3") is None


def test_listen_addresses():
    ap = cli.build_parser()
    for argv, want in ((["--consul-api-endpoint", "x"], ["0.0.0.0:3000"]),
                       (["-l", "127.0.0.1", "-p", "8080"], ["127.0.0.1:8080"]),
                       (["-l", "::1", "-p", "8080"], ["[::1]:8080"]),
                       (["-l", "[::]:9", "-l", "127.0.0.1:10"], ["[::]:9", "127.0.0.1:10"])):
        assert cli.listen_addresses(ap, ap.parse_args(argv)) == want


def test_daily_files_current_symlink_and_expiry(tmp_path):
    now = [time.mktime((2026, 12, 7, 23, 59, 59, 0, 0, -1))]
    old = tmp_path / "access_log.20261001"
    old.write_text("x\n")
    os.utime(old, (now[0] - 40 * 86400,) * 2)
    keep = tmp_path / "access_log.20261201"
    keep.write_text("x\n")
    os.utime(keep, (now[0] - 6 * 86400,) * 2)
    log = accesslog.AccessLog(str(tmp_path), rotate_days=30, clock=lambda: now[0])
    log.write("127.0.0.1", "GET", "/a", 200, 11, "ua", 0.001, "h", now=now[0])
    assert os.readlink(tmp_path / "current") == "access_log.20261207"
    assert not old.exists() and keep.exists()
    now[0] += 2
    log.write("127.0.0.1", "GET", "/b", 404, 5, "ua", 0.001, "h", now=now[0])
    assert os.readlink(tmp_path / "current") == "access_log.20261208"
    a = [json.loads(x) for x in (tmp_path / "access_log.20261207").read_text().splitlines()]
    b = [json.loads(x) for x in (tmp_path / "access_log.20261208").read_text().splitlines()]
    assert [r["uri"] for r in a] == ["/a"] and [(r["uri"], r["status"]) for r in b] == [("/b", 404)]
    log.close()
