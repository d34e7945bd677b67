"""Query templates (--template): statements of -q with random parameters, as sysbench's Lua
scripts draw them, so that a custom load does not hit the same row (and the query cache, the
buffer pool's one page) every time. Pure (given an RNG).

Placeholders, replaced afresh for every statement sent:

    {int:LO:HI}     a uniform random integer in [LO, HI]
    {seq:LO:HI}     LO, LO+1, ... HI, then LO again (per agent)
    {str:N}         a quoted string of N random letters and digits
    {choice:A|B|C}  one of the values, as written (quote strings yourself: {choice:'a'|'b'})
    {uuid}          a quoted random UUID
    {{ and }}       a literal brace
"""
from __future__ import annotations

import random
import re
import uuid

from .gen import random_string

_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z]+)((?::[^{}]*)?)\}")


class TemplateError(ValueError):
    pass


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TemplateError(f"{what}: {text!r} is not an integer") from None


def _part(kind: str, args: list[str], rng: random.Random, src: str):
    if kind in ("int", "seq"):
        if len(args) != 2:
            raise TemplateError(f"{src}: expected {{{kind}:LO:HI}}")
        lo, hi = _int(args[0], src), _int(args[1], src)
        if lo > hi:
            raise TemplateError(f"{src}: LO > HI")
        if kind == "int":
            randint = rng.randint
            return lambda: str(randint(lo, hi))
        state = [lo]

        def seq() -> str:
            v = state[0]
            state[0] = lo if v >= hi else v + 1
            return str(v)
        return seq
    if kind == "str":
        if len(args) != 1 or _int(args[0], src) < 0:
            raise TemplateError(f"{src}: expected {{str:N}}")
        n = _int(args[0], src)
        return lambda: f"'{random_string(n)}'"
    if kind == "choice":
        values = ":".join(args).split("|")
        if not args or not all(values):
            raise TemplateError(f"{src}: expected {{choice:A|B|...}}")
        choice = rng.choice
        return lambda: choice(values)
    if kind == "uuid":
        if args:
            raise TemplateError(f"{src}: {{uuid}} takes no argument")
        getrandbits = rng.getrandbits
        return lambda: f"'{uuid.UUID(int=getrandbits(128), version=4)}'"
    raise TemplateError(f"{src}: unknown placeholder (int, seq, str, choice, uuid)")


def compile_template(sql: str, rng: random.Random | None = None):
    """A function returning a fresh statement from `sql` on every call; TemplateError on a bad
    placeholder. A statement without placeholders returns itself."""
    rng = rng or random.Random()
    parts: list = []
    pos = 0
    for m in _TOKEN.finditer(sql):
        if m.start() > pos:
            parts.append(sql[pos:m.start()])
        tok = m.group(0)
        if tok in ("{{", "}}"):
            parts.append(tok[0])
        else:
            args = m.group(2)[1:].split(":") if m.group(2) else []
            parts.append(_part(m.group(1), args, rng, tok))
        pos = m.end()
    if pos < len(sql):
        parts.append(sql[pos:])
    fixed = [p if isinstance(p, str) else None for p in parts]
    if all(p is not None for p in fixed):
        text = "".join(fixed)
        return lambda: text
    calls = [(i, p) for i, p in enumerate(parts) if not isinstance(p, str)]
    buf = [p if isinstance(p, str) else "" for p in parts]
    join = "".join

    def render() -> str:
        for i, f in calls:
            buf[i] = f()
        return join(buf)
    return render
