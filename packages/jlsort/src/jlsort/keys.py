"""Key specifications, key paths and the one documented order of JSON values.

A key spec is `PATH[:FLAG...]`:

- PATH is a top-level member name (`to_date`), a dotted path with indexes (`a.b`, `a[0].c`,
  `a.0`), a path with quoted segments for names holding dots, brackets or colons (`"a.b".c`,
  `a["x.y"]`), or a JSON Pointer (`/a/b`, `/a~1b`).
- FLAGs: `n`/`num`/`numeric` (`N`/`numstr` the same): numbers and strings that hold a number
  first, compared by value; everything else after them; `s`/`str`/`string`/`auto` (the general
  order, the default), `r`/`rev`/`reverse`/`desc` (descending), `a`/`asc` (ascending),
  `f`/`fold`/`ignore-case` (strings compared case-insensitively). Every part after the first
  `:` outside quotes must be a flag (an unknown one is a usage error).

The general order of values: missing < null < false < true < numbers < strings < arrays <
objects. Numbers compare by exact value (ints of any size, decimals as `Decimal`, so `1 == 1.0`);
strings by code point; arrays element by element; objects by their sorted member names, then by
their values in that order.

This module imports nothing heavy; `Extractor` (which needs msgspec) lives in `records`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

NUM_FLAGS = {"n", "num", "numeric", "N", "numstr", "numeric-string"}
STR_FLAGS = {"s", "str", "string", "auto"}
DESC_FLAGS = {"r", "rev", "reverse", "desc"}
ASC_FLAGS = {"a", "asc"}
FOLD_FLAGS = {"f", "fold", "ignore-case"}
ALL_FLAGS = NUM_FLAGS | STR_FLAGS | DESC_FLAGS | ASC_FLAGS | FOLD_FLAGS
VALID_FLAGS_TEXT = ("n (num, numeric; N, numstr: the same), s (str, string, auto), r (rev, reverse, "
                    "desc), a (asc), f (fold, ignore-case)")


class KeySpecError(ValueError):
    pass


@dataclass
class KeySpec:
    text: str                 # as given on the command line
    path: tuple               # (str | int, ...): member names and array indexes
    mode: str = "auto"        # auto | num (numbers, numeric strings included, first)
    desc: bool = False
    missing: str = "natural"  # natural | first | last | error | skip
    fold: bool = False        # strings compared case-insensitively (upper-cased)

    @property
    def name(self) -> str:
        return self.text


def parse_path(text: str) -> tuple:
    """`a.b[0]`, `"a.b".c`, `/a/b` -> a tuple of names (str) and indexes (int)."""
    if text == "":
        raise KeySpecError("empty key")
    if text.startswith("/"):
        out = []
        for tok in text[1:].split("/"):
            tok = tok.replace("~1", "/").replace("~0", "~")
            out.append(tok)
        return tuple(out)
    out: list = []
    i, n = 0, len(text)
    expect_name = True
    while i < n:
        c = text[i]
        if c == '"':
            if not expect_name:
                raise KeySpecError(f"missing . before {text[i:]!r} in key: {text}")
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise KeySpecError(f"unterminated quote in key: {text}")
            out.append("".join(buf))
            i = j + 1
            expect_name = False
        elif c == "[":
            j = text.find("]", i)
            if j < 0:
                raise KeySpecError(f"unterminated [ in key: {text}")
            inner = text[i + 1:j]
            if inner.startswith('"') and inner.endswith('"') and len(inner) >= 2:
                out.append(inner[1:-1].replace('\\"', '"').replace("\\\\", "\\"))
            elif re.fullmatch(r"-?[0-9]+", inner):
                out.append(int(inner))
            else:
                raise KeySpecError(f"bad index [{inner}] in key: {text}")
            i = j + 1
            expect_name = False
        elif c == ".":
            if expect_name:
                raise KeySpecError(f"empty segment in key: {text}")
            i += 1
            expect_name = True
        else:
            if not expect_name:
                raise KeySpecError(f"missing . before {text[i:]!r} in key: {text}")
            m = re.compile(r'[^.\["]+').match(text, i)
            seg = m.group(0)
            out.append(int(seg) if out and re.fullmatch(r"[0-9]+", seg) else seg)
            i = m.end()
            expect_name = False
    if expect_name:
        raise KeySpecError(f"key ends with '.': {text}")
    return tuple(out)


def _split_flags(text: str):
    """-> (path text, [flags]): the flags start at the first `:` outside quotes and brackets."""
    i, n, quote, depth = 0, len(text), False, 0
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0:
            return text[:i], text[i + 1:].split(":")
        i += 1
    return text, []


def parse_keyspec(text: str, numeric: bool = False, reverse: bool = False,
                  missing: str = "natural", fold: bool = False) -> KeySpec:
    """`PATH[:FLAG...]`; every part after the first `:` (outside quotes) must be a flag: a
    member name holding `:` is quoted (`"a:b"`)."""
    mode = "num" if numeric else "auto"
    desc = reverse
    path_text, flags = _split_flags(text)
    for f in flags:
        if f not in ALL_FLAGS:
            raise KeySpecError(f"unknown flag '{f}' in key '{text}' (valid flags: "
                               f"{VALID_FLAGS_TEXT}; a name holding ':' is quoted: '\"a:b\"')")
        if f in NUM_FLAGS:
            mode = "num"
        elif f in STR_FLAGS:
            mode = "auto"
        elif f in DESC_FLAGS:
            desc = True
        elif f in ASC_FLAGS:
            desc = False
        elif f in FOLD_FLAGS:
            fold = True
    return KeySpec(text=path_text, path=parse_path(path_text), mode=mode, desc=desc,
                   missing=missing, fold=fold)


# -- the order ---------------------------------------------------------------------------------
R_LOW, R_NULL, R_FALSE, R_TRUE, R_NUM, R_STR, R_ARR, R_OBJ, R_HIGH = (-1, 1, 2, 3, 4, 5, 6, 7, 99)
K_MISSING = (0,)
K_NULL = (R_NULL,)
K_FALSE = (R_FALSE,)
K_TRUE = (R_TRUE,)


def norm(v):
    """A comparable, hashable key for a decoded JSON value, in the general order."""
    t = type(v)
    if t is str:
        return (R_STR, v)
    if t is int or t is Decimal:
        return (R_NUM, v)
    if v is None:
        return K_NULL
    if v is False:
        return K_FALSE
    if v is True:
        return K_TRUE
    if t is list:
        return (R_ARR, tuple(map(norm, v)))
    if t is dict:
        names = sorted(v)
        return (R_OBJ, tuple(names), tuple(norm(v[k]) for k in names))
    if t is float:  # not produced by our decoders (floats are Decimal), kept for safety
        return (R_NUM, Decimal(repr(v)))
    return K_MISSING  # the MISSING sentinel


_NUMSTR = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")


def fold(s: str) -> str:
    """Case folding of -f / KEY:f (as sort -f: lower case to upper case)."""
    return s.upper()


def norm_fold(v):
    """norm() with strings (in arrays and object values too) compared case-insensitively."""
    t = type(v)
    if t is str:
        return (R_STR, v.upper())
    if t is list:
        return (R_ARR, tuple(map(norm_fold, v)))
    if t is dict:
        names = sorted(v)
        return (R_OBJ, tuple(names), tuple(norm_fold(v[k]) for k in names))
    return norm(v)


def _num(v, base):
    """Numeric mode: numbers, and strings holding a number (`"12"`, `" 2.5 "`, `"1e3"`, as
    sort -n reads text), first by value; every other value after them in the general order."""
    t = type(v)
    if t is int or t is Decimal:
        return (0, v)
    if t is str and _NUMSTR.fullmatch(v):
        try:
            return (0, Decimal(v.strip()))
        except InvalidOperation:
            pass
    return (1, base(v))


def norm_num(v):
    return _num(v, norm)


def norm_num_fold(v):
    return _num(v, norm_fold)


norm_numstr = norm_num  # the old name of KEY:N, now the same as KEY:n


def key_function(spec: KeySpec):
    """The one notion of key order and equality of jlsort, jljoin and jluniq: a function from
    a decoded value to a comparable, hashable key (200 == 200.0; numeric mode; -f)."""
    if spec.mode == "num":
        return norm_num_fold if spec.fold else norm_num
    return norm_fold if spec.fold else norm


class Desc:
    """Reverses the order of a key component (for keys with mixed directions)."""
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, o):
        return o.v < self.v

    def __gt__(self, o):
        return self.v < o.v

    def __le__(self, o):
        return o.v <= self.v

    def __ge__(self, o):
        return self.v <= o.v

    def __eq__(self, o):
        return self.v == o.v

    def __ne__(self, o):
        return self.v != o.v

    def __hash__(self):
        return hash(self.v)

    def __reduce__(self):
        return (Desc, (self.v,))


def path_repr(spec: KeySpec) -> str:
    return spec.text
