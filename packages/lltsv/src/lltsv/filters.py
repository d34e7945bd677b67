"""The `-f 'KEY OP VALUE'` conditions.

KEY OP VALUE is split on single spaces into three parts (VALUE may hold spaces). Operators:
  > >= < <=        numeric (Go number grammar on both sides); a record whose value is missing or
                   not a number fails the condition and is reported (count + first one)
  == !=            numeric equality when both sides are numbers (1 == 1.0), else byte equality
  ==* !=*          case-insensitive string equality (Unicode lower-casing)
  =~ !~            regular expression search (Python re, close to RE2 for common patterns)
  =~* !~*          the same, case-insensitive (re.IGNORECASE; the pattern itself is untouched)
Every condition is applied (AND), in the order given, also several on the same key.
"""
from __future__ import annotations

import operator
import re
from itertools import repeat

from . import gonum
from .show import show

_OPEN_REPEAT = re.compile(r"(?<!\\)(?:\\\\)*(\{,[0-9]*\})")


_IN_CLASS = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_W = "[0-9A-Za-z_]"
# explicit classes, not the scoped flag (?a:...): CPython's prefix optimisation ignores that flag,
# so re.search(r"(?a:\\W)", "\uff13") is None
_OUT_CLASS = {
    "d": "[0-9]", "D": "[^0-9]", "w": _W, "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]", "S": "[^\\t\\n\\f\\r ]",
    "b": f"(?:(?<!{_W})(?={_W})|(?<={_W})(?!{_W}))",
    "B": f"(?:(?<={_W})(?={_W})|(?<!{_W})(?!{_W}))",
}


def _ascii_classes(pattern: str) -> str:
    """RE2 (upstream) reads \\d \\w \\s \\b and their negations as ASCII classes; Python's re, on
    text, as Unicode ones (\\d matches '\uff13'). Rewrite them to their ASCII meaning without
    re.ASCII, which would also turn off Unicode case folding for =~*."""
    out = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if e in "dwsDWSbB":
                if not in_class:
                    out.append(_OUT_CLASS[e])
                elif e in _IN_CLASS:
                    out.append(_IN_CLASS[e])
                elif e in "DWS":
                    raise re.error(f"\\{e} inside [...] is not supported: write [^...] instead")
                else:
                    out.append(pattern[i:i + 2])
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":   # a leading ] is a literal
                out.append("]")
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


class FilterError(ValueError):
    pass


NUMERIC = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_REVERSED = {">": "__lt__", ">=": "__le__", "<": "__gt__", "<=": "__ge__"}
OPERATORS = ["<=", ">=", "<", ">", "==", "!=", "==*", "!=*", "=~", "!~", "=~*", "!~*"]


_DECODE = operator.methodcaller("decode", "utf-8", "surrogateescape")


def _lower(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape").lower()


class Filter:
    def __init__(self, source: bytes):
        self.source = source
        parts = source.split(b" ", 2)
        if len(parts) < 3:
            raise FilterError("expected 'KEY OP VALUE' separated by single spaces")
        self.key, op, self.rhs = parts
        self.op = op.decode("utf-8", "surrogateescape")
        if self.op not in OPERATORS:
            raise FilterError(f"unknown operator {show(self.op)} (known: {' '.join(OPERATORS)})"
                              + (" (two spaces in a row?)" if not self.op else ""))
        self.numeric = self.op in NUMERIC
        self.rhs_num = gonum.parse(self.rhs)
        self.vectorizable = True
        if self.numeric:
            if self.rhs_num is None:
                raise FilterError(f"{show(self.rhs)} is not a number")
            self._cmp = NUMERIC[self.op]
        elif self.op in ("==*", "!=*"):
            self._rhs_lower = _lower(self.rhs)
        elif self.op in ("=~", "!~", "=~*", "!~*"):
            flags = re.IGNORECASE if self.op.endswith("*") else 0
            pattern = self.rhs.decode("utf-8", "surrogateescape")
            import warnings

            m = _OPEN_REPEAT.search(pattern)
            if m:   # Python reads x{,N} as x{0,N}; RE2 (upstream) as the literal text
                raise FilterError(f"bad regular expression {show(pattern)}: {show(m.group(1))} is a repeat "
                                  "in Python but literal text in RE2 (upstream): write {0,N} for "
                                  "the repeat or escape the brace")

            try:
                compiled = _ascii_classes(pattern)
                with warnings.catch_warnings():
                    # "Possible nested set" / "set difference": RE2 syntax such as [[:alpha:]]
                    # that Python's re would read differently; refuse it rather than guess
                    warnings.simplefilter("error", FutureWarning)
                    self._rx = re.compile(compiled, flags)
            except re.error as e:
                raise FilterError(f"bad regular expression {show(pattern)}: {e}") from e
            except FutureWarning as e:
                raise FilterError(f"bad regular expression {show(pattern)}: {e} (POSIX classes such "
                                  "as [[:alpha:]] are RE2 syntax: write [a-zA-Z] or \\w)") from e

    def __str__(self):
        return self.source.decode("utf-8", "backslashreplace")

    def test(self, value: bytes | None) -> bool | None:
        """True/False, or None when a numeric operator meets a value that is not a number."""
        op = self.op
        if value is None:
            value = b""
        if self.numeric:
            v = gonum.parse(value)
            if v is None:
                return None
            return self._cmp(v, self.rhs_num)
        if op == "==" or op == "!=":
            eq = value == self.rhs
            if not eq and self.rhs_num is not None:
                v = gonum.parse(value)
                eq = v is not None and v == self.rhs_num
            return eq if op == "==" else not eq
        if op == "==*":
            return _lower(value) == self._rhs_lower
        if op == "!=*":
            return _lower(value) != self._rhs_lower
        found = self._rx.search(value.decode("utf-8", "surrogateescape")) is not None
        return found if op[0] == "=" else not found

    def mask(self, values: list[bytes]):
        """A list of booleans for a whole column of values, or None if some value needs the
        per-record path (not a number for a numeric operator, or an unusual number)."""
        op = self.op
        if op in ("==*", "!=*", "=~", "!~", "=~*", "!~*"):
            # C-level maps over the column (no Python code per value)
            texts = map(_DECODE, values)
            if op == "==*":
                return list(map(self._rhs_lower.__eq__, map(str.lower, texts)))
            if op == "!=*":
                return list(map(self._rhs_lower.__ne__, map(str.lower, texts)))
            found = map(self._rx.search, texts)
            return list(map(operator.is_not if op[0] == "=" else operator.is_, found, repeat(None)))
        if self.numeric:
            fl = gonum.fast_floats(values)
            if fl is None:
                return None
            return list(map(getattr(self.rhs_num, _REVERSED[self.op]), fl))
        if self.rhs_num is None:
            eq = list(map(self.rhs.__eq__, values))
        else:
            fl = gonum.fast_floats(values)
            if fl is None:
                return None
            eq = list(map(self.rhs_num.__eq__, fl))
        if self.op == "!=":
            return [not e for e in eq]
        return eq
