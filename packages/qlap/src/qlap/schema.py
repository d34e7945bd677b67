"""Set-up and teardown of the test database. The rule: never drop a database or a table that
this run did not create (except the explicit --drop-db)."""
from __future__ import annotations

from dataclasses import dataclass

from .gen import Generator, TableSpec


class SetupError(Exception):
    pass


class TableExists(SetupError):
    """t1 is there and is not ours: the run refuses to touch it."""

    def __init__(self, db: str):
        super().__init__(f"table t1 already exists in database {db!r} and was not created by qlap: "
                         "refusing to touch it")
        self.db = db


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass
class DBState:
    created_db: bool = False
    created_t1: bool = False
    use_existing: bool = False


class Setup:
    """Runs (or, with a printing connection, shows) the set-up and teardown statements."""

    def __init__(self, conn, dbname: str, log=None):
        self.conn = conn
        self.db = dbname
        self.log = log or (lambda sql: None)
        self.state = DBState()      # updated as objects are created: teardown works after Ctrl-C too
        self.broken = False         # a statement was cut mid-reply (Ctrl-C): the connection is out of step

    def q(self, sql: str):
        self.log(sql)
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def prepare(self, *, engine: str, drop_db: bool, create: list[str] | None, spec: TableSpec | None,
                force: bool) -> DBState:
        st = self.state
        if engine:
            self.q(f"SET default_storage_engine = {engine}")
        if drop_db:
            self.q(f"DROP DATABASE IF EXISTS {quote_ident(self.db)}")
        rows = self.conn_exec_args("SELECT COUNT(1) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                                   (self.db,))
        if rows[0][0]:
            st.use_existing = True
        else:
            self._create(f"CREATE DATABASE {quote_ident(self.db)}", "created_db")
        self.q(f"USE {quote_ident(self.db)}")
        if create is not None:
            for stmt in create:
                self.q(stmt)
            return st
        if spec is None:
            return st
        exists = self.conn_exec_args("SELECT COUNT(1) FROM information_schema.TABLES "
                                     "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't1'", (self.db,))[0][0]
        if exists:
            if not force:
                raise TableExists(self.db)
            self.q("DROP TABLE IF EXISTS t1")
        self._create(spec.create_table(), "created_t1")
        return st

    def _create(self, sql: str, flag: str) -> None:
        """Run a CREATE and note it in the state, noted *before* it is sent: a Ctrl-C that cuts
        the reply must not leave a database or table behind that the teardown does not know of.
        A CREATE the server refused clears the note again."""
        setattr(self.state, flag, True)
        try:
            self.q(sql)
        except Exception:
            setattr(self.state, flag, False)
            raise

    def free_db_name(self, base: str) -> str:
        """A database name that does not exist yet, derived from `base` (qlap_<base>, then _2 ...)."""
        for i in range(1, 100):
            name = f"qlap_{base}"[:60] + (f"_{i}" if i > 1 else "")
            if not self.conn_exec_args("SELECT COUNT(1) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                                       (name,))[0][0]:
                return name
        return f"qlap_{base}"[:50] + "_" + str(id(self) % 100000)

    def conn_exec_args(self, sql: str, args):
        self.log(sql.replace("%s", repr(args[0])) if args else sql)
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def populate(self, spec: TableSpec, rows: int, batch: int = 200) -> None:
        """`rows` generated rows (per-agent count x agents), in multi-row INSERTs."""
        g = Generator(spec, "write", [])
        left = rows
        while left > 0:
            n = min(batch, left)
            values = [g.insert()[len("INSERT INTO t1 VALUES "):] for _ in range(n)]
            self.q("INSERT INTO t1 VALUES " + ",".join(values))
            left -= n

    def ids(self) -> list[str]:
        return [r[0].decode() if isinstance(r[0], bytes) else str(r[0]) for r in self.q("SELECT id FROM t1")]

    def teardown(self, st: DBState, no_drop: bool) -> None:
        if no_drop:
            return
        if st.created_db:
            self.q(f"DROP DATABASE IF EXISTS {quote_ident(self.db)}")
        elif st.created_t1:
            self.q(f"DROP TABLE IF EXISTS {quote_ident(self.db)}.t1")
