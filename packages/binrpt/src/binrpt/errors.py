"""Error policies: what a statement the target refused (or that matched no row) turns into.

Per error class (duplicate_key, row_not_found, missing_table, missing_column, ddl, other) the
configuration says stop (Fatal, the default), skip (counted, the first one logged), ignore
(missing_column only) or dead_letter (a row in `<checkpoint_schema>.dead_letter`, in the same
target transaction). A multi-row statement that failed as a whole is retried row by row first.
"""
from __future__ import annotations

from . import statements as S
from .statements import Stmt
from .target import Failure, Fatal


class ErrorPolicy:
    def __init__(self, policies: dict, target, log, debug: bool = False):
        self.policies = policies      # {error class: stop | skip | ignore | dead_letter}
        self.target = target
        self.log = log
        self.debug = debug
        self.counts: dict = {}        # {error class: failures seen}

    def handle(self, failures: list[Failure]) -> None:
        """Apply the policies to the failures of one batch (stop: raises Fatal) and write the
        dead-letter rows in the open target transaction."""
        extra: list[Stmt | None] = []
        for f in failures:
            if f.stmt.kind == "dead_letter":
                raise Fatal(f"cannot write the dead-letter row: {f.message}")
            if f.cls != "row_not_found" and self.policies[f.cls] != "stop":
                singles = S.split_rows(f.stmt)
                if singles is not None:
                    # a multi-row statement failed as a whole (and was rolled back): retry row by row
                    sub = self.target.run(singles)
                    if sub:
                        extra.extend(self.policy(s) for s in sub)
                    continue
            extra.append(self.policy(f))
        stmts = [s for s in extra if s is not None]
        if stmts:
            more = self.target.run(stmts)
            if more:
                raise Fatal(f"cannot write the dead-letter rows: {more[0].message}")

    def policy(self, f: Failure) -> Stmt | None:
        """Count and log one failure; Fatal (stop), None (skip, ignore) or the dead-letter statement."""
        cls = f.cls if f.cls in self.policies else "other"
        policy = self.policies[cls]
        n = self.counts.get(cls, 0) + 1
        self.counts[cls] = n
        gtids = sorted({g for g, _ in f.stmt.rows}) or ["?"]
        where = f"{f.stmt.db}.{f.stmt.table}" if f.stmt.table else (f.stmt.db or "(no default database)")
        if policy == "stop":
            raise Fatal(f"{cls} ({f.code}) in {where} at GTID {','.join(gtids)}: {f.message}: {f.stmt.sql[:2000]}")
        if policy == "skip" or policy == "ignore":
            if n == 1 or self.debug:
                self.log.warn(f"{cls}: skipped (policy {policy})", table=where, gtid=",".join(gtids), code=f.code,
                              error=f.message, sql=f.stmt.sql[:2000], count=n)
            return None
        # dead_letter
        if n == 1 or self.debug:
            self.log.warn(f"{cls}: written to the dead-letter table", table=where, gtid=",".join(gtids),
                          code=f.code, error=f.message, count=n)
        return self.target.dead_letter_stmt(",".join(gtids)[:64], f, [im for _, im in f.stmt.rows])
