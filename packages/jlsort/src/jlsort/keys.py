"""Key specifications, key paths and the one documented order of JSON values.

A key spec is `PATH[:FLAG...]`:

- PATH is a top-level member name (`to_date`), a dotted path with indexes (`a.b`, `a[0].c`,
  `a.0`), a path with quoted segments for names holding dots, brackets or colons (`"a.b".c`,
  `a["x.y"]`), or a JSON Pointer (`/a/b`, `/a~1b`).
- FLAGs: `n`/`num`/`numeric` (numbers first, compared by value; everything else after them),
  `N`/`numstr` (the same, and strings that hold a number count as that number),
  `s`/`str`/`string`/`auto` (the general order, the default), `r`/`rev`/`reverse`/`desc`
  (descending), `a`/`asc` (ascending).

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

NUM_FLAGS = {"n", "num", "numeric"}
NUMSTR_FLAGS = {"N", "numstr", "numeric-string"}
STR_FLAGS = {"s", "str", "string", "auto"}
DESC_FLAGS = {"r", "rev", "reverse", "desc"}
ASC_FLAGS = {"a", "asc"}
ALL_FLAGS = NUM_FLAGS | NUMSTR_FLAGS | STR_FLAGS | DESC_FLAGS | ASC_FLAGS


class KeySpecError(ValueError):
    pass


@dataclass
class KeySpec:
    text: str                 # as given on the command line
    path: tuple               # (str | int, ...): member names and array indexes
    mode: str = "auto"        # auto | num | numstr
    desc: bool = False
    missing: str = "natural"  # natural | first | last | error | skip

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


def parse_keyspec(text: str, numeric: bool = False, reverse: bool = False,
                  missing: str = "natural") -> KeySpec:
    mode = "num" if numeric else "auto"
    desc = reverse
    parts = text.split(":")
    flags = []
    while len(parts) > 1 and parts[-1] in ALL_FLAGS:
        flags.insert(0, parts.pop())
    path_text = ":".join(parts)
    for f in flags:
        if f in NUM_FLAGS:
            mode = "num"
        elif f in NUMSTR_FLAGS:
            mode = "numstr"
        elif f in STR_FLAGS:
            mode = "auto"
        elif f in DESC_FLAGS:
            desc = True
        elif f in ASC_FLAGS:
            desc = False
    return KeySpec(text=path_text, path=parse_path(path_text), mode=mode, desc=desc, missing=missing)


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


def norm_num(v):
    """Numeric mode: numbers first by value, then every other value in the general order."""
    t = type(v)
    if t is int or t is Decimal:
        return (0, v)
    return (1, norm(v))


def norm_numstr(v):
    t = type(v)
    if t is int or t is Decimal:
        return (0, v)
    if t is str and _NUMSTR.fullmatch(v):
        try:
            return (0, Decimal(v.strip()))
        except InvalidOperation:
            pass
    return (1, norm(v))


NORMALIZERS = {"auto": norm, "num": norm_num, "numstr": norm_numstr}


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
