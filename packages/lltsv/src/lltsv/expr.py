"""The `-e 'NAME = EXPR'` language: arithmetic over the keys of one LTSV record.

EXPR: numbers (Go literal syntax: 12, 1.5, .5, 1e3, 1_000, 0x1F), "strings" and `raw strings`,
identifiers (the record's keys, including keys set by earlier -e), parentheses, binary + - * / %,
unary - and +, and the functions abs(x), round(x), round(x, digits), int(x) (toward zero),
min(a, b, ...), max(a, b, ...).

Arithmetic is decimal on the values as written (0.120 - 0.050 is exactly 0.070), so results print
without binary noise. + - * are exact; / and % keep 50 significant digits, and a result that had
to be rounded prints with 17 significant digits. Numbers are printed in plain notation, never with
an exponent, trailing zeros dropped: 70, 1234567500, 0.0000003, 0.33333333333333333.

A key that is missing or not a number (per Go's number grammar; inf/nan count as not a number)
gives no value: the target key is left as it was. Division (or %) by zero raises DivisionByZero;
the caller stores an empty value and warns once. A string result prints Go-quoted ("abc").
"""
from __future__ import annotations

import decimal
import re
from decimal import Decimal

from . import gonum
from .show import show


class ExprError(ValueError):
    """The expression cannot be parsed: a usage error."""


class NoValue(Exception):
    """A referenced key is missing or not a number: leave the target alone."""


class DivisionByZero(Exception):
    pass


_CTX = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation],
                       Emin=-999999, Emax=999999)
_OUT17 = decimal.Context(prec=17, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999)

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>0[xX][0-9a-fA-F_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
  | (?P<ident>[^\W\d]\w*)
  | (?P<op>\*\*|==|!=|<=|>=|&&|\|\||<<|>>|[-+*/%(),<>!&|^=])
""", re.X)

_PLAIN = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


_CACHE: dict = {}


def to_decimal(v: bytes) -> Decimal:
    """A record value as a number, or NoValue (memoised: log values repeat a lot)."""
    d = _CACHE.get(v)
    if d is None:
        try:
            d = _to_decimal(v)
        except NoValue:
            d = False
        if len(_CACHE) >= 200_000:
            _CACHE.clear()
        _CACHE[v] = d
    if d is False:
        raise NoValue
    return d


def _to_decimal(v: bytes) -> Decimal:
    if _PLAIN.fullmatch(v):
        if (b"e" in v or b"E" in v) and gonum.parse(v) is None:  # overflow: not a number for Go
            raise NoValue
        return Decimal(v.decode("ascii"))
    f = gonum.parse(v)
    if f is None or f != f or f in (float("inf"), float("-inf")):
        raise NoValue
    if b"_" in v and b"x" not in v.lower():
        return Decimal(v.replace(b"_", b"").decode("ascii"))
    return Decimal(f)


def _literal(text: str) -> Decimal:
    t = text.replace("_", "")
    if t[:2].lower() == "0x":
        return Decimal(int(t, 16))
    return Decimal(t)


def _unquote(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
        raise ExprError(f"bad string literal {text}") from e


def _round(x, digits=None):
    if digits is None:
        return x.to_integral_value(rounding=decimal.ROUND_HALF_UP, context=_CTX)
    n = int(digits)
    return x.quantize(Decimal(1).scaleb(-n), rounding=decimal.ROUND_HALF_UP, context=_CTX)


_FUNCS = {
    "abs": (1, 1, lambda x: abs(x)),
    "round": (1, 2, _round),
    "int": (1, 1, lambda x: x.to_integral_value(rounding=decimal.ROUND_DOWN, context=_CTX)),
    "min": (1, 99, lambda *a: min(a)),
    "max": (1, 99, lambda *a: max(a)),
}


def _num(v):
    if not isinstance(v, Decimal):
        raise NoValue
    return v


def _add(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return _CTX.add(_num(a), _num(b))


def _sub(a, b):
    return _CTX.subtract(_num(a), _num(b))


def _mul(a, b):
    return _CTX.multiply(_num(a), _num(b))


def _div(a, b):
    a, b = _num(a), _num(b)
    if not b:
        raise DivisionByZero
    return _CTX.divide(a, b)


def _mod(a, b):
    a, b = _num(a), _num(b)
    if not b:
        raise DivisionByZero
    return _CTX.remainder(a, b)


_BINOPS = {"+": _add, "-": _sub, "*": _mul, "/": _div, "%": _mod}


class _Parser:
    def __init__(self, text: str):
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ExprError(f"unexpected character {show(text[pos])}")
            pos = m.end()
            if m.lastgroup != "ws":
                self.toks.append((m.lastgroup, m.group()))
        self.i = 0
        self.keys: list[bytes] = []

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def parse(self):
        node = self.additive()
        kind, text = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected {show(text)}" + (" (comparisons are for -f, not -e)"
                                                      if text in ("==", "!=", "<", ">", "<=", ">=") else ""))
        return node

    def additive(self):
        node = self.multiplicative()
        while self.peek() in (("op", "+"), ("op", "-")):
            fn = _BINOPS[self.take()[1]]
            node = _bin(fn, node, self.multiplicative())
        return node

    def multiplicative(self):
        node = self.unary()
        while self.peek() in (("op", "*"), ("op", "/"), ("op", "%")):
            fn = _BINOPS[self.take()[1]]
            node = _bin(fn, node, self.unary())
        return node

    def unary(self):
        if self.peek() == ("op", "-"):
            self.take()
            inner = self.unary()
            return lambda d: _CTX.minus(_num(inner(d)))
        if self.peek() == ("op", "+"):
            self.take()
            inner = self.unary()
            return lambda d: _num(inner(d))
        return self.primary()

    def primary(self):
        kind, text = self.take()
        if kind == "num":
            try:
                v = _literal(text)
            except (ValueError, decimal.InvalidOperation) as e:
                raise ExprError(f"bad number {text}") from e
            return lambda d: v
        if kind == "str":
            s = _unquote(text)
            return lambda d: s
        if kind == "ident":
            if self.peek() == ("op", "("):
                return self.call(text)
            key = text.encode("utf-8", "surrogateescape")
            self.keys.append(key)

            def ident(d, key=key):
                v = d.get(key)
                if v is None:
                    raise NoValue
                return to_decimal(v)
            return ident
        if (kind, text) == ("op", "("):
            node = self.additive()
            if self.take() != ("op", ")"):
                raise ExprError("missing )")
            return node
        raise ExprError("unexpected end of expression" if kind == "end" else f"unexpected {show(text)}")

    def call(self, name):
        if name not in _FUNCS:
            raise ExprError(f"unknown function {name}() (known: {', '.join(_FUNCS)})")
        lo, hi, fn = _FUNCS[name]
        self.take()  # (
        args = []
        if self.peek() != ("op", ")"):
            args.append(self.additive())
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.additive())
        if self.take() != ("op", ")"):
            raise ExprError(f"missing ) after {name}(")
        if not lo <= len(args) <= hi:
            raise ExprError(f"{name}() takes {lo}" + (f" to {hi}" if hi != lo else "") + " argument(s)")
        return lambda d: fn(*[_num(a(d)) for a in args])


def _bin(fn, left, right):
    return lambda d: fn(left(d), right(d))


def format_number(x: Decimal, inexact: bool) -> bytes:
    if inexact:
        x = _OUT17.plus(x)
    if not x:
        return b"0"
    x = x.normalize(_CTX)
    s = format(x, "f")
    return s.encode("ascii")


def _go_quote(s: str) -> bytes:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out).encode("utf-8", "surrogateescape")


class Expression:
    """One compiled `NAME = EXPR`."""

    def __init__(self, source: str):
        self.source = source
        name, eq, body = source.partition("=")
        if not eq:
            raise ExprError("expected NAME = EXPR")
        name = name.strip()
        if not name:
            raise ExprError("empty NAME before =")
        if not body.strip():
            raise ExprError("empty expression after =")
        self.name = name.encode("utf-8", "surrogateescape")
        p = _Parser(body)
        self._fn = p.parse()
        self.keys = p.keys

    def evaluate(self, d: dict) -> bytes:
        """The value to store under self.name, or NoValue / DivisionByZero."""
        flags = _CTX.flags
        flags[decimal.Inexact] = False
        try:
            v = self._fn(d)
        except decimal.InvalidOperation as e:
            raise NoValue from e
        if isinstance(v, str):
            return _go_quote(v)
        if not v.is_finite():   # past the context's exponent range: like an infinite input
            raise NoValue
        return format_number(v, flags[decimal.Inexact])
