#!/usr/bin/env python3
"""A private, throw-away MariaDB server for tests and benchmarks.

Each instance gets a fresh datadir under its own temporary directory (mariadb-install-db), its
own unix socket, a free TCP port on 127.0.0.1, and the binlog on (ROW format, FULL row image,
binlog_row_metadata=FULL, its own server_id, GTID domain 0). It is stopped by its own pid and its
directory removed, whatever happened in between.

Used by tests/conftest.py (fixtures `mariadb` and `mariadb_factory`) and by scripts/bench/*:

    python3 scripts/mariadb_sandbox.py run     start one, print its parameters as JSON, wait
                                               for Ctrl-C / SIGTERM, then stop and clean up

Standard library only: readiness and set-up go through the `mariadb` command-line client, so the
test environments of tools that do not use MySQL need no MySQL driver.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

USER = "suite"
PASSWORD = "suite-pw"


def _find(*names: str) -> str:
    for n in names:
        p = shutil.which(n) or (f"/usr/sbin/{n}" if os.path.exists(f"/usr/sbin/{n}") else None)
        if p:
            return p
    raise RuntimeError(
        f"none of {', '.join(names)} found: install Debian's mariadb-server and mariadb-client "
        "(./scripts/test does it when run as root)")


def _die_with_parent() -> None:
    """preexec_fn: the server gets SIGTERM if the process that started it dies, even by kill -9,
    so a killed test run leaves no server behind (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def root_user_args() -> list[str]:
    """mysqld refuses to run as root unless told to."""
    return ["--user=root"] if os.geteuid() == 0 else []


class Server:
    """What every private server of the suite shares: its directory, socket, port and pid; start
    with retries on a new port; readiness by ping; the test accounts; stop by pid; the client.
    A flavour (MariaDB here, MySQL in mysql_sandbox.py) gives the binaries (`client`, `admin`),
    how the datadir is made (`_prepare`) and the server's arguments (`_server_args`).
    `params` is what a client needs (host, port, unix_socket, user, password)."""

    kind = "server"             # directory prefix and the name in messages
    daemon = "mysqld"
    start_timeout = 60.0
    setup_tail = ""             # SQL run after the accounts are made

    def __init__(self, server_id: int = 1, *, base: str | None = None, extra_args: list[str] | None = None):
        self.server_id = server_id
        self.extra_args = list(extra_args or [])
        self.dir = tempfile.mkdtemp(prefix=f"suite-{self.kind}-{server_id}-", dir=base)
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.pidfile = os.path.join(self.dir, "mysqld.pid")
        self.errlog = os.path.join(self.dir, "error.log")
        self.port = 0
        self.proc: subprocess.Popen | None = None

    # -- what a flavour gives ------------------------------------------------------------------
    def client(self) -> list[str]:
        raise NotImplementedError

    def admin(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Make the datadir."""
        raise NotImplementedError

    def _server_args(self) -> list[str]:
        """The server's argv for this attempt (self.port is already chosen)."""
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float | None = None):
        timeout = self.start_timeout if timeout is None else timeout
        try:
            self._prepare()
        except BaseException:
            self.cleanup()
            raise
        last_err = ""
        for _attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen([*self._server_args(), *self.extra_args], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_die_with_parent)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if os.path.exists(self.socket) and self._ping():
                    try:
                        self._setup()
                    except BaseException:
                        self._kill()
                        self.cleanup()
                        raise
                    return self
                time.sleep(0.1)
            last_err = self.log_tail()
            self._kill()
        self.cleanup()
        raise RuntimeError(f"{self.daemon} did not start:\n{last_err}")

    def _ping(self) -> bool:
        r = subprocess.run([*self.admin(), "--no-defaults", f"--socket={self.socket}", "-uroot",
                            "--connect-timeout=2", "ping"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def _setup(self) -> None:
        self.sql(
            f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}';"
            f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'localhost' WITH GRANT OPTION;"
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1' WITH GRANT OPTION;"
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" + self.setup_tail)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server by its own pid (SIGTERM, then SIGKILL) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
            except ProcessLookupError:
                pass
        self.cleanup()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- use ---------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def params(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "unix_socket": self.socket,
                "user": USER, "password": PASSWORD, "server_id": self.server_id}

    def defaults_file(self, path: str | None = None) -> str:
        """Write a client option file ([client] section) for this server and return its path."""
        path = path or os.path.join(self.dir, "client.cnf")
        with open(path, "w") as f:
            f.write(f"[client]\nhost=127.0.0.1\nport={self.port}\nuser={USER}\npassword={PASSWORD}\n")
        os.chmod(path, 0o600)
        return path

    def sql(self, statements: str, database: str | None = None) -> str:
        """Run SQL through the command-line client as root over the socket; return tab-separated rows."""
        args = [*self.client(), "--no-defaults", f"--socket={self.socket}", "-uroot",
                "--batch", "--skip-column-names", "--raw"]
        if database:
            args.append(database)
        r = subprocess.run(args, input=statements.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError(f"{self.kind}: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode()

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.errlog, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class MariaDB(Server):
    """One private MariaDB server (Debian's mariadb-server binaries)."""

    kind = "mariadb"
    daemon = "mariadbd"
    setup_tail = "FLUSH PRIVILEGES;"

    def client(self) -> list[str]:
        return [_find("mariadb", "mysql")]

    def admin(self) -> list[str]:
        return [_find("mariadb-admin", "mysqladmin")]

    def _prepare(self) -> None:
        subprocess.run(
            [_find("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
             *root_user_args()],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _server_args(self) -> list[str]:
        return [
            _find("mariadbd", "mysqld"), "--no-defaults", *root_user_args(),
            f"--datadir={self.datadir}", f"--socket={self.socket}", f"--pid-file={self.pidfile}",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--log-error={self.errlog}",
            f"--server-id={self.server_id}", "--log-bin=binlog", "--binlog-format=ROW",
            "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--log-slave-updates",
            "--gtid-domain-id=0", "--skip-name-resolve", "--innodb-buffer-pool-size=128M",
            "--innodb-log-file-size=64M", "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
            "--max-connections=500", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", "--event-scheduler=OFF",
        ]


def serve(db: Server, extra: dict | None = None) -> int:
    """`run`: print the started server's parameters as JSON, wait for SIGTERM/SIGINT, stop it."""
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(json.dumps({**db.params, "pid": db.pid, "dir": db.dir, **(extra or {})}), flush=True)
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        db.stop()
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] != ["run"]:
        print(__doc__, file=sys.stderr)
        return 2
    return serve(MariaDB(server_id=int(os.environ.get("SERVER_ID", "1"))).start())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
