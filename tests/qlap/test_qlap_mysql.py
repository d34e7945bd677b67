"""qlap against a real MySQL 9 (the suite's private server, scripts/mysql_sandbox.py): a short load of
each type, the report, and the clean-up. Skipped where MySQL cannot be fetched (fails under CI=true)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

QLAP = [sys.executable, "-c", "from qlap.cli import main; main()"]


def qlap(*args, timeout=120):
    e = dict(os.environ)
    e.pop("MYSQL_PWD", None)
    return subprocess.run([*QLAP, *map(str, args)], capture_output=True, env=e, timeout=timeout)


@pytest.fixture
def dbname():
    return "q" + uuid.uuid4().hex[:10]


def _dsn(mysql, db=""):
    p = mysql.params
    return f"{p['user']}:{p['password']}@tcp(127.0.0.1:{p['port']})/{db}"


@pytest.mark.parametrize("load", ["key", "write", "read", "update", "mixed"])
def test_short_load_on_mysql(mysql, dbname, load):
    r = qlap("-d", _dsn(mysql, dbname), "-a", "-l", load, "-n", "2", "--number-queries", "25", "-t", "0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["QueryCount"] == 50 and rep["Response"]["Count"] == 50
    assert rep["ErrorQueryCount"] == 0 and rep["Errors"] is None
    assert rep["LoadType"] == load
    assert mysql.params["password"].encode() not in r.stdout + r.stderr
    assert dbname not in mysql.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").split()


def test_custom_query_on_mysql(mysql, dbname):
    mysql.sql(f"CREATE DATABASE {dbname}; CREATE TABLE {dbname}.t (id INT PRIMARY KEY, j JSON);"
              f"INSERT INTO {dbname}.t VALUES (1, '{{\"a\": 1}}')")
    try:
        r = qlap("-d", _dsn(mysql, dbname), "-q", "SELECT id, j->>'$.a' FROM t WHERE id = 1", "-n", "2",
                 "--number-queries", "10", "-t", "0")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        assert rep["QueryCount"] == 20 and rep["ErrorQueryCount"] == 0
        assert mysql.sql(f"SELECT COUNT(*) FROM {dbname}.t").strip() == "1"   # an existing database is kept
    finally:
        mysql.sql(f"DROP DATABASE IF EXISTS {dbname}")
