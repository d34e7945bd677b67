"""The suite's MariaDB behind ppdp: a MySQL session goes through, --dump-tcp logs its bytes, and the
COM_PING packet (with the OK answering it) stays out of the dump unless --dump-mysql-ping."""
from __future__ import annotations

import subprocess

import pytest
from conftest import wait_for
from ppdp.dump import MYSQL_PING, Dumper, ascii_gutter, is_mysql_ok_reply


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg, **f):
        self.lines.append({"msg": msg, **f})


def test_dumper_filters_ping_and_its_ok_and_caps_lines():
    log = _Log()
    d = Dumper(log, "c1", 2, keep_ping=False)
    d.feed(1, MYSQL_PING)
    d.feed(2, b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00")    # OK, seq 1
    d.feed(1, b"\x0f\x00\x00\x00\x03SELECT 1")
    d.feed(2, b"x" * 5000)
    d.close()
    dumps = [x for x in log.lines if x["msg"] == "dump"]
    assert [x["direction"] for x in dumps] == [2, 1, 2]           # a full 4 KiB record first
    assert "01 00 00 00 0e" not in " ".join(x["hex"] for x in dumps)
    assert dumps[1]["ascii"].endswith("SELECT 1") and dumps[1]["hex"].startswith("0f 00 00 00 03")
    assert len(dumps[0]["hex"].split()) == 4096
    log2 = _Log()
    d = Dumper(log2, "c1", 1, keep_ping=True)
    d.feed(1, MYSQL_PING)
    d.feed(2, b"ignored at --dump-tcp 1")
    d.close()
    assert [x["hex"] for x in log2.lines] == ["01 00 00 00 0e"]


def test_helpers():
    assert ascii_gutter(b"a\x00b\xff") == "a.b."
    assert is_mysql_ok_reply(b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00")
    assert not is_mysql_ok_reply(b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00")


def _option_file(tmp_path, port):
    from mariadb_sandbox import PASSWORD, USER
    f = tmp_path / "client.cnf"
    f.write_text(f"[client]\nhost=127.0.0.1\nport={port}\nuser={USER}\npassword={PASSWORD}\nprotocol=tcp\n")
    f.chmod(0o600)
    return str(f)


@pytest.mark.parametrize("keep_ping", [False, True])
def test_mariadb_through_ppdp_dump_and_ping_filter(mariadb, ppdp, tmp_path, keep_ping):
    args = ["--dump-tcp", "2"] + (["--dump-mysql-ping"] if keep_ping else [])
    p, port = ppdp(f"127.0.0.1:{mariadb.port}", *args)
    cnf = _option_file(tmp_path, port)
    r = subprocess.run([*mariadb.client(), f"--defaults-file={cnf}", "--batch", "--skip-column-names",
                        "-e", "SELECT 'ppdp-dump-marker'"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"ppdp-dump-marker"
    r = subprocess.run([*mariadb.admin(), f"--defaults-file={cnf}", "ping"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"alive" in r.stdout, r
    assert wait_for(lambda: len(p.logs(msg="log", status="Suceeded")) == 2)
    dumps = p.logs(msg="dump")
    assert any("ppdp-dump-marker" in d["ascii"] and d["direction"] == 1 for d in dumps)
    assert any("ppdp-dump-marker" in d["ascii"] and d["direction"] == 2 for d in dumps)
    greeting = [d for d in dumps if d["direction"] == 2]
    assert greeting, "the server greeting (direction 2) is dumped"
    pings = [d for d in dumps if d["direction"] == 1 and "01 00 00 00 0e" in d["hex"]]
    assert bool(pings) == keep_ping
