"""Helpers for myps tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import io
import threading
import time

import pymysql
from myps.cli import main


class Session:
    def __init__(self, params: dict, db: str | None = None):
        self.conn = pymysql.connect(host=params["host"], port=params["port"], user=params["user"],
                                    password=params["password"], database=db, autocommit=True)
        self.id = self.conn.thread_id()
        self.error: Exception | None = None
        self.result = None
        self.thread: threading.Thread | None = None

    def run_bg(self, sql: str) -> "Session":
        def target():
            try:
                with self.conn.cursor() as c:
                    c.execute(sql)
                    self.result = c.fetchall()
            except Exception as e:  # noqa: BLE001 - the test inspects it
                self.error = e
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        return self

    def wait(self, timeout: float = 20) -> None:
        if self.thread:
            self.thread.join(timeout)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


def wait_visible(mariadb, sql_like: str, n: int = 1, timeout: float = 10) -> None:
    """Wait until n threads run a statement LIKE sql_like (the background thread has sent it)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = mariadb.sql(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '{sql_like}' "
                          "AND INFO NOT LIKE '%information_schema%'")
        if int(out.strip()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no thread running {sql_like!r}")


def run_myps(args, stdin: bytes = b""):
    out, err = io.BytesIO(), io.BytesIO()
    rc = main(list(args), stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()
