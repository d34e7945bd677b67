"""Random source workloads: transactions of 1-5 statements over a table with a primary key, one with a
composite key and one without a key (insert, upsert, range update, delete, REPLACE, NULLs)."""
from __future__ import annotations

import random

SCHEMA = [
    "CREATE TABLE `{db}`.pk (id INT PRIMARY KEY, a INT NULL, s VARCHAR(40) NULL, d DECIMAL(20,6) NULL, "
    "t DATETIME(6) NULL) ENGINE=InnoDB",
    "CREATE TABLE `{db}`.ck (a INT NOT NULL, b VARCHAR(10) NOT NULL, v BIGINT UNSIGNED NULL, x BLOB NULL, "
    "PRIMARY KEY (b, a)) ENGINE=InnoDB",
    "CREATE TABLE `{db}`.nk (a INT NULL, s VARCHAR(20) NULL, f DOUBLE NULL) ENGINE=InnoDB",
]


def _v(rnd, kind):
    if rnd.random() < 0.15:
        return "NULL"
    if kind == "int":
        return str(rnd.randrange(-1000, 1000))
    if kind == "str":
        return "'" + rnd.choice(["x", "y", "zz", "héllo", "🍣", "a''b", "back\\\\slash"]) + str(rnd.randrange(50)) + "'"
    if kind == "dec":
        return f"{rnd.randrange(-10**8, 10**8)}.{rnd.randrange(10**6):06d}"
    if kind == "dt":
        return f"'2024-0{rnd.randrange(1, 10)}-1{rnd.randrange(10)} 12:{rnd.randrange(60):02d}:00.{rnd.randrange(10**6):06d}'"
    if kind == "u64":
        return str(rnd.choice([0, 1, 2**63, 2**64 - 1, rnd.randrange(2**64)]))
    if kind == "blob":
        return "X'" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(6))).hex() + "'"
    if kind == "dbl":
        return repr(rnd.choice([0.5, 1.25, -3.0, 1e10, rnd.randrange(1000) / 8]))
    raise ValueError(kind)


def statement(rnd, db):
    r = rnd.random()
    t = rnd.choice(["pk", "pk", "ck", "nk"])
    if t == "pk":
        i = rnd.randrange(300)
        row = f"({i},{_v(rnd, 'int')},{_v(rnd, 'str')},{_v(rnd, 'dec')},{_v(rnd, 'dt')})"
        if r < 0.3:
            return f"INSERT IGNORE INTO `{db}`.pk VALUES {row}"
        if r < 0.5:
            return f"INSERT INTO `{db}`.pk VALUES {row} ON DUPLICATE KEY UPDATE a=VALUES(a), s=VALUES(s)"
        if r < 0.65:
            return f"REPLACE INTO `{db}`.pk VALUES {row}"
        if r < 0.85:
            lo = rnd.randrange(300)
            return f"UPDATE `{db}`.pk SET a = COALESCE(a, 0) + 1, s = {_v(rnd, 'str')} WHERE id BETWEEN {lo} AND {lo + 5}"
        return f"DELETE FROM `{db}`.pk WHERE id BETWEEN {i} AND {i + 2}"
    if t == "ck":
        a, b = rnd.randrange(40), rnd.choice(["p", "q", "r", "s"])
        if r < 0.4:
            return (f"INSERT INTO `{db}`.ck VALUES ({a},'{b}',{_v(rnd, 'u64')},{_v(rnd, 'blob')}) "
                    f"ON DUPLICATE KEY UPDATE v=VALUES(v), x=VALUES(x)")
        if r < 0.55:
            return f"REPLACE INTO `{db}`.ck VALUES ({a},'{b}',{_v(rnd, 'u64')},{_v(rnd, 'blob')})"
        if r < 0.8:
            return f"UPDATE IGNORE `{db}`.ck SET x = {_v(rnd, 'blob')}, a = a + 100 WHERE b = '{b}' AND a = {a}"
        return f"DELETE FROM `{db}`.ck WHERE b = '{b}' AND a < {a} LIMIT 3"
    # no key: identical rows are common
    a = rnd.randrange(20)
    if r < 0.5:
        return f"INSERT INTO `{db}`.nk VALUES ({a},{_v(rnd, 'str') if rnd.random() < .3 else repr('s')},{_v(rnd, 'dbl')})"
    if r < 0.75:
        return f"UPDATE `{db}`.nk SET f = {_v(rnd, 'dbl')} WHERE a = {a} LIMIT 1"
    return f"DELETE FROM `{db}`.nk WHERE a = {a} LIMIT 1"


def transactions(db: str, n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        out.append("BEGIN")
        out.extend(statement(rnd, db) for _ in range(rnd.randint(1, 5)))
        out.append("COMMIT")
    return out


def big_transaction(db: str, rows: int, start: int = 100000) -> list[str]:
    vals = ",".join(f"({start + i},{i},'big{i}',{i}.5,NULL)" for i in range(rows))
    return ["BEGIN", f"INSERT INTO `{db}`.pk VALUES {vals}", f"UPDATE `{db}`.pk SET a = a + 1 WHERE id >= {start}",
            "COMMIT"]


def create(src, db: str) -> None:
    src.run_many([s.format(db=db) for s in SCHEMA])
