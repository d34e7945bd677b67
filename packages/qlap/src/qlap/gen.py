"""The table of --auto-generate-sql and the statements each agent sends. Pure (given an RNG)."""
from __future__ import annotations

import base64
import itertools
import os
import random
from dataclasses import dataclass, field

_ALNUM = bytes.maketrans(b"+/", b"xY")
T_SELECT, T_INSERT, T_UPDATE, T_COMMIT, T_OTHER = 0, 1, 2, 3, 4
TYPE_NAMES = ["SELECT", "INSERT", "UPDATE", "COMMIT", "OTHER"]


@dataclass
class TableSpec:
    int_cols: int = 1
    char_cols: int = 1
    int_index: bool = False
    char_index: bool = False
    guid_primary: bool = False
    secondary_indexes: int = 0

    def create_table(self) -> str:
        cols = ["id VARCHAR(36) PRIMARY KEY" if self.guid_primary else "id SERIAL"]
        cols += [f"id{i} VARCHAR(36) UNIQUE KEY" for i in range(1, self.secondary_indexes + 1)]
        for i in range(1, self.int_cols + 1):
            cols.append(f"intcol{i} INT(32)")
            if self.int_index:
                cols.append(f"INDEX(intcol{i})")
        for i in range(1, self.char_cols + 1):
            cols.append(f"charcol{i} VARCHAR(128)")
            if self.char_index:
                cols.append(f"INDEX(charcol{i})")
        return "CREATE TABLE t1 (" + ", ".join(cols) + ")"

    def select_cols(self) -> str:
        return ",".join([f"intcol{i}" for i in range(1, self.int_cols + 1)] +
                        [f"charcol{i}" for i in range(1, self.char_cols + 1)])


def random_string(n: int = 128) -> str:
    """n characters from [A-Za-z0-9], fresh for every call (os.urandom, no Python loop)."""
    raw = base64.b64encode(os.urandom((n * 3 + 3) // 4)).translate(_ALNUM)
    return raw[:n].decode("ascii")


class Generator:
    """Statements for one agent: `next()` returns (sql, type)."""

    def __init__(self, spec: TableSpec, load_type: str, ids: list[str], queries: list[str] | None = None,
                 commit_rate: int = 0, sel_ratio: int = 1, ins_ratio: int = 1, rng: random.Random | None = None,
                 template: bool = False):
        self.spec = spec
        self.load_type = load_type
        self.rng = rng or random.Random()
        self.ids = list(ids)
        self.rng.shuffle(self.ids)
        self.id_pos = 0
        self.queries = queries
        self.q_pos = 0
        self.commit_rate = commit_rate
        self.since_commit = 0
        self.sel_ratio, self.ins_ratio = sel_ratio, ins_ratio
        self.mixed_pos = 0
        self.cols = spec.select_cols()
        self._key_sql = f"SELECT {self.cols} FROM t1 WHERE id = '{{}}'"
        self.renders = None
        if queries is not None:
            from .sqltext import statement_type
            self.q_types = [TYPE_NAMES.index(t) if t in TYPE_NAMES else T_OTHER
                            for t in map(statement_type, queries)]
            if template:
                from .template import compile_template
                self.renders = [compile_template(q, self.rng) for q in queries]
        self.repeats = False    # next() cycles a fixed list of statements, made once
        if commit_rate <= 0:
            self._fixed_order()

    CYCLE_MAX = 4096

    def _fixed_order(self) -> None:
        """next() as a C-level iterator when the statements come in a fixed order (the sequence of
        the general next()): a list made once and cycled, up to CYCLE_MAX statements; a key load
        with more ids (the table grows with the number of agents, and every agent has its own
        list) makes each statement per call, at C level."""
        if self.queries is not None:
            if self.renders is not None or not self.queries:
                return
            fixed = list(zip(self.queries, self.q_types))
        elif self.load_type == "read":
            fixed = [(self.read_select(), T_SELECT)]
        elif self.load_type == "key" and self.ids:
            if len(self.ids) > self.CYCLE_MAX:
                self.next = zip(map(self._key_sql.format, itertools.cycle(self.ids)),
                                itertools.repeat(T_SELECT)).__next__
                return
            fixed = [(self.key_select(i), T_SELECT) for i in self.ids]
        else:
            return
        self.repeats = True
        self.next = itertools.cycle(fixed).__next__

    def next_id(self) -> str:
        if not self.ids:
            return ""
        v = self.ids[self.id_pos]
        self.id_pos = (self.id_pos + 1) % len(self.ids)
        return v

    def insert(self) -> str:
        s = self.spec
        vals = ["UUID()" if s.guid_primary else "NULL"]
        vals += ["UUID()"] * s.secondary_indexes
        rb = self.rng.getrandbits
        vals += [str(rb(31)) for _ in range(s.int_cols)]
        vals += [f"'{random_string()}'" for _ in range(s.char_cols)]
        return "INSERT INTO t1 VALUES (" + ",".join(vals) + ")"

    def key_select(self, id_: str | None = None) -> str:
        return self._key_sql.format(self.next_id() if id_ is None else id_)

    def read_select(self) -> str:
        return f"SELECT {self.cols} FROM t1"

    def update(self) -> str:
        s = self.spec
        rb = self.rng.getrandbits
        sets = [f"intcol{i} = {rb(31)}" for i in range(1, s.int_cols + 1)]
        sets += [f"charcol{i} = '{random_string()}'" for i in range(1, s.char_cols + 1)]
        return f"UPDATE t1 SET {','.join(sets)} WHERE id = '{self.next_id()}'"

    def next(self) -> tuple[str, int]:
        if self.commit_rate > 0:
            if self.since_commit >= self.commit_rate:
                self.since_commit = 0
                return "COMMIT", T_COMMIT
            self.since_commit += 1
        if self.queries is not None:
            i = self.q_pos
            self.q_pos = (i + 1) % len(self.queries)
            if self.renders is not None:
                return self.renders[i](), self.q_types[i]
            return self.queries[i], self.q_types[i]
        lt = self.load_type
        if lt == "mixed":
            i = self.mixed_pos
            self.mixed_pos = (i + 1) % (self.sel_ratio + self.ins_ratio)
            if i < self.sel_ratio:
                return self.key_select(), T_SELECT
            return self.insert(), T_INSERT
        if lt == "write":
            return self.insert(), T_INSERT
        if lt == "key":
            return self.key_select(), T_SELECT
        if lt == "read":
            return self.read_select(), T_SELECT
        return self.update(), T_UPDATE


@dataclass
class Plan:
    """Everything an agent needs to know, picklable for the worker processes."""
    connect: dict
    dbname: str
    spec: TableSpec
    load_type: str
    auto: bool
    queries: list[str] | None
    pre_queries: list[str]
    commit_rate: int
    sel_ratio: int
    ins_ratio: int
    ids: list[str]
    token: str
    nagents: int
    time_ns: int
    number_queries: int
    agent_rate: float            # queries/s of one agent; 0 = unthrottled
    force: bool
    only_print: bool = False
    max_errors: int = 0          # stop every agent once this many errors were counted; 0 = no limit
    template: bool = False       # -q statements are templates with random parameters (template.py)
    source: object = None        # callable(agent index, rng) -> statement source (qrn); None: Generator
    noop: bool = False           # send nothing (qrn --noop)
    slow_ns: int = 0             # statements at least this long go to source.slow() (qrn -log)
    show_errors: str = ""        # with force: print each error and its input line, prefixed by this name
    extra: dict = field(default_factory=dict)
