"""Helpers for myps tests: real sessions on the suite's MariaDB that sleep, idle in a transaction
or wait on a lock, each tagged with a unique marker so tests never see each other's threads."""
from __future__ import annotations

import uuid

import pytest
from myps_helpers import Session


@pytest.fixture
def tag():
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def sessions(mariadb):
    made: list[Session] = []

    def make(db: str | None = None) -> Session:
        s = Session(mariadb.params, db)
        made.append(s)
        return s

    def kill_all() -> None:
        for s in made:
            try:
                mariadb.sql(f"KILL {s.id}")
            except RuntimeError:
                pass
            s.close()
        made.clear()

    make.kill_all = kill_all
    yield make
    kill_all()


@pytest.fixture(scope="session")
def conn_args(mariadb, tmp_path_factory):
    """Connection options as an operator would give them: an option file, no password on argv."""
    cnf = mariadb.defaults_file(str(tmp_path_factory.mktemp("myps") / "client.cnf"))
    return ["--no-defaults", "--defaults-extra-file", cnf]


