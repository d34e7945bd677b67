#!/usr/bin/env python3
"""A private, throw-away MySQL server for tests and benchmarks (the MySQL twin of mariadb_sandbox.py).

Debian bookworm has no MySQL server, so scripts/lib/fetch-mysql.sh unpacks Debian sid's
mysql-server-core / mysql-client-core and the libraries they need (glibc included) into a cache
directory (default `<repo>/.cache/mysql-sid`, or $SUITE_MYSQL_ROOT), without touching the system.
The binaries run through sid's own dynamic loader:

    <root>/usr/lib64/ld-linux-x86-64.so.2 --library-path <root>/lib/...:<root>/usr/lib/... <root>/usr/sbin/mysqld

Each instance gets a fresh datadir (a copy of a template made once by `mysqld --initialize-insecure`
and cached beside the binaries, its auto.cnf removed so every instance has its own server_uuid),
its own unix socket, a free TCP port on 127.0.0.1, and the binlog on (ROW, FULL row image,
binlog_row_metadata=FULL, GTID mode ON, its own server_id). It is stopped by its own pid and its
directory removed, whatever happened in between; it also dies with the process that started it.

MySQL 9 has no mysql_native_password: accounts use caching_sha2_password. The set-up logs each
account in once over TCP with TLS (the mysql client does that by default), which fills the server's
authentication cache, so that PyMySQL can then log in over plain TCP without the RSA exchange (which
would need the `cryptography` package). `prime_auth()` does it again (after FLUSH PRIVILEGES).

    python3 scripts/mysql_sandbox.py run     start one, print its parameters as JSON, wait
                                             for Ctrl-C / SIGTERM, then stop and clean up
    python3 scripts/mysql_sandbox.py check   exit 0 if MySQL can be started here, else print why

Standard library only (the set-up goes through the fetched `mysql` command-line client).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mariadb_sandbox import PASSWORD, USER, Server, root_user_args, serve  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mysql_root() -> str:
    return os.environ.get("SUITE_MYSQL_ROOT") or os.path.join(REPO, ".cache", "mysql-sid")


class Unavailable(RuntimeError):
    """MySQL binaries are not there (not fetched: no network, not Debian)."""


def _loader(root: str) -> list[str]:
    lib = f"{root}/lib/x86_64-linux-gnu:{root}/usr/lib/x86_64-linux-gnu"
    return [f"{root}/usr/lib64/ld-linux-x86-64.so.2", "--library-path", lib]


def available(root: str | None = None) -> tuple[bool, str]:
    root = root or mysql_root()
    mysqld = os.path.join(root, "usr", "sbin", "mysqld")
    if not os.path.exists(os.path.join(root, ".ok")) or not os.path.exists(mysqld):
        return False, (f"MySQL is not fetched into {root} (scripts/lib/fetch-mysql.sh does it: Debian sid's "
                       "mysql-server-core; it needs apt-get and the network)")
    try:
        r = subprocess.run([*_loader(root), mysqld, "--version"], capture_output=True, timeout=30)
    except OSError as e:
        return False, f"cannot run {mysqld}: {e}"
    if r.returncode != 0:
        return False, f"{mysqld} --version failed: {r.stderr.decode(errors='replace')[-500:]}"
    out = r.stdout.decode(errors="replace").strip()
    return True, "mysqld " + out.split("mysqld", 1)[-1].strip() if "mysqld" in out else out


def _template(root: str) -> str:
    """A datadir made once by --initialize-insecure, cached beside the binaries (atomic rename)."""
    with open(os.path.join(root, ".ok")) as f:
        tag = "".join(ch if ch.isalnum() else "_" for ch in f.read().split(" for ")[0])[:60]
    tpl = os.path.join(os.path.dirname(root), f"mysql-template-{tag}")
    if os.path.exists(os.path.join(tpl, "ready")):
        return tpl
    work = tempfile.mkdtemp(prefix="mysql-template-", dir=os.path.dirname(root))
    try:
        r = subprocess.run(
            [*_loader(root), f"{root}/usr/sbin/mysqld", "--no-defaults", "--initialize-insecure", *root_user_args(),
             f"--datadir={work}/data", f"--basedir={root}/usr", f"--lc-messages-dir={root}/usr/share/mysql",
             f"--plugin-dir={root}/usr/lib/mysql/plugin", "--innodb-redo-log-capacity=33554432",
             "--innodb-buffer-pool-size=64M", f"--log-error={work}/init.log", f"--tmpdir={work}",
             f"--secure-file-priv={work}", "--innodb-flush-log-at-trx-commit=2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        if r.returncode != 0:
            try:
                with open(f"{work}/init.log", errors="replace") as f:
                    log = f.read()[-3000:]
            except OSError:
                log = r.stdout.decode(errors="replace")[-3000:]
            raise RuntimeError(f"mysqld --initialize-insecure failed:\n{log}")
        os.remove(os.path.join(work, "data", "auto.cnf"))
        open(os.path.join(work, "ready"), "w").close()
        try:
            os.rename(work, tpl)
        except OSError:  # another process made it first
            shutil.rmtree(work, ignore_errors=True)
        return tpl
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


class MySQL(Server):
    """One private MySQL server (Debian sid's binaries, through sid's loader)."""

    kind = "mysql"
    daemon = "mysqld"
    flavor = "mysql"
    start_timeout = 90.0

    def __init__(self, server_id: int = 1, *, base: str | None = None, extra_args: list[str] | None = None,
                 root: str | None = None):
        self.root = root or mysql_root()
        ok, why = available(self.root)
        if not ok:
            raise Unavailable(why)
        self.version = why
        super().__init__(server_id, base=base, extra_args=extra_args)

    def _bin(self, name: str) -> list[str]:
        sub = "sbin" if name == "mysqld" else "bin"
        return [*_loader(self.root), f"{self.root}/usr/{sub}/{name}"]

    def client(self) -> list[str]:
        """argv prefix of the fetched `mysql` client (through sid's loader)."""
        return self._bin("mysql")

    def admin(self) -> list[str]:
        return self._bin("mysqladmin")

    def _prepare(self) -> None:
        shutil.copytree(os.path.join(_template(self.root), "data"), self.datadir, symlinks=True)

    def _server_args(self) -> list[str]:
        return [
            *self._bin("mysqld"), "--no-defaults", *root_user_args(),
            f"--basedir={self.root}/usr", f"--lc-messages-dir={self.root}/usr/share/mysql",
            f"--plugin-dir={self.root}/usr/lib/mysql/plugin", f"--tmpdir={self.dir}",
            f"--secure-file-priv={self.dir}",
            f"--datadir={self.datadir}", f"--socket={self.socket}", f"--pid-file={self.pidfile}",
            f"--port={self.port}", "--bind-address=127.0.0.1", "--mysqlx=OFF", f"--log-error={self.errlog}",
            f"--server-id={self.server_id}", "--log-bin=binlog", "--binlog-format=ROW",
            "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--gtid-mode=ON",
            "--enforce-gtid-consistency=ON", "--skip-name-resolve", "--innodb-buffer-pool-size=128M",
            "--innodb-redo-log-capacity=67108864", "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
            "--max-connections=500", "--character-set-server=utf8mb4",
            "--event-scheduler=OFF", "--log-error-verbosity=2",
        ]

    def _setup(self) -> None:
        super()._setup()
        self.prime_auth()

    def prime_auth(self) -> None:
        """Log the test account in once over TCP+TLS: fills caching_sha2_password's cache, so plain-TCP
        clients without RSA support (PyMySQL without `cryptography`) get the fast path."""
        r = subprocess.run([*self._bin("mysql"), "--no-defaults", "-h127.0.0.1", f"-P{self.port}", f"-u{USER}",
                            f"-p{PASSWORD}", "--ssl-mode=REQUIRED", "-N", "-e", "SELECT 1"],
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"mysql: priming the auth cache failed: {r.stderr.decode(errors='replace')}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        ok, why = available()
        print(why, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    if argv[:1] != ["run"]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        db = MySQL(server_id=int(os.environ.get("SERVER_ID", "1"))).start()
    except Unavailable as e:
        print(f"mysql_sandbox: {e}", file=sys.stderr)
        return 1
    return serve(db, {"version": db.version})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
