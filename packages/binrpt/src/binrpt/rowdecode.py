"""A faster decoder of rows events, installed into python-mysql-replication (1.0.x) by libfix.

The library decodes each value through several method calls on its packet wrapper (struct.unpack
of a fresh slice per value, a bitmap lookup per column, a dict per image built key by key): about
80 % of binrpt's main thread. This module gives `RowsEvent._fetch_rows` a replacement that reads
the whole event body in one generated function per row-image shape (table columns + columns-present
bitmaps): the fixed-width columns between two strings are read by one precompiled
`struct.Struct.unpack_from` when the row has no NULL, strings are sliced directly, dates, times and
decimals come from small caches keyed by their bytes, and each image is one dict display.

The result is the library's, value for value (with libfix's readers: partial zero dates as text,
JSON null), and the same `none_sources`. Anything it does not handle (old temporal types, partial
JSON updates, a column without a name, an enum without values, data it cannot read to the exact end
of the event, any exception) leaves the event to the library's own path, so that the library's
result (or its error) is what binrpt gets. tests/binrpt/test_rowdecode*.py compare the two.
"""
from __future__ import annotations

import codecs
import datetime
import struct
from decimal import Decimal

from .libfix import date_value, datetime2_value

# event types: WRITE/UPDATE/DELETE rows v1 (MariaDB) and v2 (MySQL); not PARTIAL_UPDATE (39)
_WRITE, _UPDATE, _DELETE = (23, 30), (24, 31), (25, 32)
_TYPES = frozenset(_WRITE + _UPDATE + _DELETE)

# FIELD_TYPE numbers (pymysqlreplication.constants.FIELD_TYPE)
TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, DATE, YEAR = 1, 2, 3, 4, 5, 8, 9, 10, 13
VARCHAR, BIT, TIMESTAMP2, DATETIME2, TIME2 = 15, 16, 17, 18, 19
JSON, NEWDECIMAL, ENUM, SET, BLOB, STRING, GEOMETRY = 245, 246, 247, 248, 252, 254, 255

_INT_FMT = {TINY: "b", SHORT: "h", LONG: "i", LONGLONG: "q"}
_UINT_FMT = {TINY: "B", SHORT: "H", LONG: "I", LONGLONG: "Q"}
_LEN_FMT = {1: "B", 2: "H", 3: "3s", 4: "I"}
_FSP_BYTES = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3}
_CACHE_MAX = 8192
_FUNCS_MAX = 2048


class _Fallback(Exception):
    """This event (or table) is left to the library."""


_fb = int.from_bytes


# -- value builders (on a cache miss), each the library's arithmetic -----------------------------------
def _fsp(r: bytes, off: int, fsp: int) -> int:
    """RowsEvent.__read_fsp: the fraction, read as a *signed* big-endian number, then scaled."""
    n = _FSP_BYTES[fsp]
    if not n:
        return 0
    us = _fb(r[off:off + n], "big", signed=True)
    if fsp % 2:
        us = int(us / 10)
    return us * (10 ** (6 - fsp))


def _put(cache: dict, r: bytes, v):
    """Store v as the value of the bytes r in a value cache (emptied when full); returns v."""
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[r] = v
    return v


def _mk_date(r: bytes, cache: dict):
    return _put(cache, r, date_value(_fb(r, "little")))


def _mk_datetime2(r: bytes, fsp: int, cache: dict):
    return _put(cache, r, datetime2_value(_fb(r[:5], "big"), _fsp(r, 5, fsp)))


def _mk_timestamp2(r: bytes, fsp: int, cache: dict):
    v = datetime.datetime.utcfromtimestamp(_fb(r[:4], "big", signed=True))
    us = _fsp(r, 4, fsp)
    if us > 0:
        v = v.replace(microsecond=us)
    return _put(cache, r, v)


def _mk_time2(r: bytes, fsp: int, cache: dict):
    data = _fb(r[:3], "big", signed=True)
    sign = 1 if (data >> 23) & 1 else -1
    if sign == -1:
        data = ~data + 1
    v = datetime.timedelta(hours=(data >> 12) & 0x3FF, minutes=(data >> 6) & 0x3F, seconds=data & 0x3F,
                           microseconds=_fsp(r, 3, fsp)) * sign
    return _put(cache, r, v)


_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def _decimal_layout(precision: int, decimals: int):
    """[(bytes, digits or 9 for a full group, is_integral)] of a DECIMAL(precision, decimals)."""
    integral = precision - decimals
    ui, ci = divmod(integral, 9)
    uf, cf = divmod(decimals, 9)
    parts = []
    if _DIG2BYTES[ci]:
        parts.append((_DIG2BYTES[ci], ci, True, False))
    parts += [(4, 9, True, True)] * ui
    parts += [(4, 9, False, True)] * uf
    if _DIG2BYTES[cf]:
        parts.append((_DIG2BYTES[cf], cf, False, False))
    return parts


def _decimal_maker(precision: int, decimals: int):
    """The library's RowsEvent.__read_new_decimal for one column type, as a generated function of the
    value's bytes (one int for the whole value, its digit groups by shifts, one Decimal of
    'sign integral.fraction': the same Decimal as the library's string of zero-padded groups); digit
    groups out of range (data the library would turn into something else) are _Fallback."""
    parts = _decimal_layout(precision, decimals)
    size = sum(b for b, _d, _i, _f in parts)
    if size == 0:
        return 0, None
    nbits = 8 * size
    code = ["def make(r, cache):",
            f"    n = _fb(r, 'big') ^ {1 << (nbits - 1)}",
            "    if r[0] & 128:",
            "        sg = ''",
            "    else:",
            f"        n ^= {(1 << nbits) - 1}",
            "        sg = '-'"]
    off, checks, ip, fp = nbits, [], [], []
    for k, (b, dg, integral, _full) in enumerate(parts):
        off -= 8 * b
        code.append(f"    g{k} = (n >> {off}) & {(1 << (8 * b)) - 1}" if off else f"    g{k} = n & {(1 << (8 * b)) - 1}")
        checks.append(f"g{k} >= {10 ** dg}")
        (ip if integral else fp).append((k, dg))

    def number(groups):
        expr, width = "0", 0
        for k, dg in groups:
            expr = f"({expr}) * {10 ** dg} + g{k}" if width else f"g{k}"
            width += dg
        return expr
    code.append(f"    if {' or '.join(checks)}:")
    code.append("        raise _Fallback('decimal digits out of range')")
    text = "sg + str(" + number(ip) + ")" if ip else "sg + '0'"
    if fp:
        text += f" + '.' + format({number(fp)}, '0{decimals}d')"
    code.append(f"    v = Decimal({text})")
    code.append("    return _put(cache, r, v)")
    ns = {"_fb": _fb, "_Fallback": _Fallback, "Decimal": Decimal, "_put": _put}
    exec(compile("\n".join(code) + "\n", f"<binrpt.rowdecode DECIMAL({precision},{decimals})>", "exec"), ns)  # noqa: S102
    return size, ns["make"]


# -- table keys and the generated decoders ---------------------------------------------------------
_ATTRS = ("type", "name", "unsigned", "max_length", "length_size", "fsp", "precision", "decimals", "bits",
          "bytes", "size", "character_set_name", "enum_values", "set_values")


def _table_key(columns):
    """A hashable description of everything the decoder reads from the columns, or False when a
    column is out of its scope (the library then decodes the event)."""
    key = []
    for c in columns:
        d = c.__dict__
        row = []
        for a in _ATTRS:
            v = d.get(a)
            if isinstance(v, list):
                v = tuple(v)
            row.append(v)
        if row[1] is None:
            return False  # no column name: the library looks it up (or makes one up)
        key.append(tuple(row))
    return tuple(key)


def _encoding(csname):
    from pymysqlreplication.row_event import RowsEvent
    if csname is None:
        return "utf-8"
    enc = RowsEvent.charset_to_encoding(csname)
    try:
        codecs.lookup(enc)
    except LookupError:
        return None  # the library keeps the bytes
    return enc


class _Col:
    """How one column is read: a fixed-width struct code (`fmt`, `size`) or a length prefix
    (`pre`, `psize`) and a slice; `post(raw, out)` returns the code that makes the value."""

    def __init__(self, i, c, errors, ns):
        self.i, self.name = i, c.name
        t = c.type
        self.fmt = self.pre = None
        self.size = self.psize = 0
        self.may_none = None  # the none_sources reason of a None this type can return for a non-NULL
        g = f"c{i}_"
        if t in _INT_FMT:
            self.fmt = (_UINT_FMT if c.unsigned else _INT_FMT)[t]
            self.size = struct.calcsize("<" + self.fmt)
            self.post = None
        elif t == FLOAT or t == DOUBLE:
            self.fmt, self.size, self.post = ("f", 4, None) if t == FLOAT else ("d", 8, None)
        elif t == INT24:
            self.fmt, self.size = "3s", 3
            signed = not c.unsigned
            self.post = lambda r, x: f"{x} = _fb({r}, 'little', signed={signed})"
        elif t == YEAR:
            self.fmt, self.size = "B", 1
            # 0 is the year 0000 (the library says 1900, which a YEAR column cannot hold)
            self.post = lambda r, x: f"{x} = {r} + 1900 if {r} else 0"
        elif t == ENUM:
            if not c.enum_values or c.size not in (1, 2):
                raise _Fallback("enum")
            self.fmt, self.size = ("B", 1) if c.size == 1 else ("H", 2)
            ns[g + "e"] = tuple(c.enum_values)
            self.post = lambda r, x: f"{x} = {g}e[{r}]"
        elif t == SET:
            if not c.set_values or not 1 <= c.size <= 8:
                raise _Fallback("set")
            self.size = c.size
            self.fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(c.size, f"{c.size}s")
            ns[g + "s"] = tuple((1 << k, v) for k, v in enumerate(c.set_values))
            conv = "" if self.fmt[-1] != "s" else f"{g}m = _fb({g}m, 'little'); "
            self.may_none = "empty set"
            self.post = lambda r, x: (f"{g}m = {r}; {conv}{x} = {{v for k, v in {g}s if {g}m & k}}\n"
                                      f"if not {x}: {x} = None; NS[{self.name!r}] = 'empty set'")
        elif t == BIT:
            if not c.bits or c.bytes != (c.bits + 7) // 8:
                raise _Fallback("bit")
            self.fmt, self.size = f"{c.bytes}s", c.bytes
            self.post = lambda r, x: f"{x} = format(_fb({r}, 'big') & {(1 << c.bits) - 1}, '0{c.bits}b')"
        elif t in (DATE, DATETIME2, TIMESTAMP2, TIME2):
            fsp = getattr(c, "fsp", 0) if t != DATE else 0
            if fsp not in _FSP_BYTES:
                raise _Fallback("fsp")
            base = {DATE: 3, DATETIME2: 5, TIMESTAMP2: 4, TIME2: 3}[t]
            self.size = base + _FSP_BYTES[fsp]
            self.fmt = f"{self.size}s"
            ns[g + "c"] = {}
            if t == DATE:
                self.may_none = "out of date range"
                self.post = lambda r, x: (f"{x} = {g}c.get({r})\n"
                                          f"if {x} is None: {x} = _mk_date({r}, {g}c)\n"
                                          f"if {x} is None: NS[{self.name!r}] = 'out of date range'")
            else:
                mk = {DATETIME2: "_mk_datetime2", TIMESTAMP2: "_mk_timestamp2", TIME2: "_mk_time2"}[t]
                self.post = lambda r, x: (f"{x} = {g}c.get({r})\n"
                                          f"if {x} is None: {x} = {mk}({r}, {fsp}, {g}c)")
        elif t == NEWDECIMAL:
            size, make = _decimal_maker(c.precision, c.decimals)
            if not size:
                raise _Fallback("decimal")
            self.fmt, self.size = f"{size}s", size
            ns[g + "c"], ns[g + "d"] = {}, make
            self.post = lambda r, x: f"{x} = {g}c.get({r})\nif {x} is None: {x} = {g}d({r}, {g}c)"
        elif t in (VARCHAR, STRING, BLOB, GEOMETRY, JSON):
            if t in (VARCHAR, STRING):
                n = 2 if c.max_length > 255 else 1
            else:
                n = c.length_size
            if n not in _LEN_FMT:
                raise _Fallback("length size")
            self.pre, self.psize = _LEN_FMT[n], n
            if t == GEOMETRY:
                self.spost = None
            elif t == JSON:
                self.spost = lambda s, x: (f"if not {s}: raise _Fallback('empty JSON')\n"
                                           f"{x} = _json_binary.parse_json({s}[0], {s}[1:])")
            else:
                enc = _encoding(c.character_set_name)
                if enc is None:
                    # the library's decode raises LookupError and keeps the bytes, except for b''
                    # (Python decodes an empty bytes without looking the codec up): ''
                    self.spost = lambda s, x: f"{x} = {s} or ''"
                else:
                    self.spost = lambda s, x: f"{x} = {s}.decode({enc!r}, {errors!r})"
        else:
            raise _Fallback(f"type {t}")


def _image_code(cols, present, errors, ns, tag):
    """The code that reads one row image at `p` into V<tag> (values) and N<tag> (none_sources)."""
    n_present = sum(present)
    nbl = (n_present + 7) // 8
    names = [c.name for c in cols]
    V, N = f"V{tag}", f"N{tag}"
    x = [f"x{tag}{i}" for i in range(len(cols))]
    lines = []
    if nbl == 0:
        lines.append("nb = 0")
    elif nbl == 1:
        lines.append("nb = buf[p]; p += 1")
    else:
        lines.append(f"nb = _fb(buf[p:p + {nbl}], 'little'); p += {nbl}")
    vals = "{" + ", ".join(f"{n!r}: {xi}" for n, xi in zip(names, x)) + "}"

    def read_var(c, ln, out):
        s = f"s{tag}{c.i}"
        code = []
        if c.pre == "3s":
            code.append(f"{ln} = _fb({ln}, 'little')")
        code.append(f"{s} = buf[p:p + {ln}]; p += {ln}")
        if c.spost is None:
            code.append(f"{out} = {s}")
        else:
            code.append(c.spost(s, out))
        return code

    # fast path: no NULL in the row; fixed-width columns read by runs
    fast = []
    run_fmt, run_vars, run_size, posts = "", [], 0, []
    absent_ns = []

    def flush_run():
        nonlocal run_fmt, run_vars, run_size
        if run_vars:
            sname = f"S{tag}_{len(ns)}"
            ns[sname] = struct.Struct("<" + run_fmt).unpack_from
            lhs = ", ".join(run_vars) + ("," if len(run_vars) == 1 else "")
            fast.append(f"{lhs} = {sname}(buf, p); p += {run_size}")
        run_fmt, run_vars, run_size = "", [], 0

    dyn_ns = any(c.may_none for c, pr in zip(cols, present) if pr)
    for c, pr in zip(cols, present):
        xi = x[c.i]
        if not pr:
            posts.append((f"{xi} = None", c.name))
            absent_ns.append(c.name)
            continue
        if c.fmt is not None:
            raw = xi if c.post is None else f"r{tag}{c.i}"
            run_fmt += c.fmt
            run_vars.append(raw)
            run_size += c.size
            if c.post is not None:
                posts.append((c.post(raw, xi), None))
        else:
            ln = f"l{tag}{c.i}"
            run_fmt += c.pre
            run_vars.append(ln)
            run_size += c.psize
            flush_run()
            fast.extend(read_var(c, ln, xi))
    flush_run()
    if dyn_ns:
        fast.append(f"{N} = NS = {{}}")
        for code, absent in posts:
            fast.append(code)
            if absent is not None:
                fast.append(f"NS[{absent!r}] = 'cols bitmap'")
    else:
        fast.extend(code for code, _a in posts)
        fast.append(f"{N} = " + "{" + ", ".join(f"{n!r}: 'cols bitmap'" for n in absent_ns) + "}")
    fast.append(f"{V} = {vals}")

    # general path: NULLs, one column at a time
    slow = [f"{N} = NS = {{}}"]
    k = 0
    for c, pr in zip(cols, present):
        xi = x[c.i]
        if not pr:
            slow += [f"{xi} = None", f"NS[{c.name!r}] = 'cols bitmap'"]
            continue
        slow.append(f"if nb & {1 << k}:")
        slow.append(f"    {xi} = None; NS[{c.name!r}] = 'null'")
        slow.append("else:")
        k += 1
        if c.fmt is not None:
            sname = f"S{tag}_{len(ns)}"
            ns[sname] = struct.Struct("<" + c.fmt).unpack_from
            raw = xi if c.post is None else f"r{tag}{c.i}"
            body = [f"{raw}, = {sname}(buf, p); p += {c.size}"]
            if c.post is not None:
                body += c.post(raw, xi).split("\n")
        else:
            ln = f"l{tag}{c.i}"
            sname = f"S{tag}_{len(ns)}"
            ns[sname] = struct.Struct("<" + c.pre).unpack_from
            body = [f"{ln}, = {sname}(buf, p); p += {c.psize}"]
            for code in read_var(c, ln, xi):
                body += code.split("\n")
        slow += ["    " + b for b in body]
    slow.append(f"{V} = {vals}")

    out = list(lines)
    out.append("if not nb:")
    for code in fast:
        out += ["    " + b for b in code.split("\n")]
    out.append("else:")
    out += ["    " + b for b in slow]
    return out


def _present(bitmap: bytes, n: int):
    if len(bitmap) < (n + 7) // 8:
        raise _Fallback("short bitmap")
    return [bool(bitmap[i >> 3] & (1 << (i & 7))) for i in range(n)]


def compile_event(columns, update: bool, bitmap1: bytes, bitmap2, ignore_errors: bool):
    """The function (buf, p, end) -> (rows, p) for events of this shape (see decode_event)."""
    from pymysqlreplication import json_binary
    errors = "ignore" if ignore_errors else "strict"
    ns = {"_fb": _fb, "_Fallback": _Fallback, "_mk_date": _mk_date, "_mk_datetime2": _mk_datetime2,
          "_mk_timestamp2": _mk_timestamp2, "_mk_time2": _mk_time2, "_json_binary": json_binary}
    cols = [_Col(i, c, errors, ns) for i, c in enumerate(columns)]
    n = len(cols)
    body = _image_code(cols, _present(bitmap1, n), errors, ns, "a")
    if update:
        body += _image_code(cols, _present(bitmap2, n), errors, ns, "b")
        row = ("ap({'before_values': Va, 'before_none_sources': Na, "
               "'after_values': Vb, 'after_none_sources': Nb})")
    else:
        row = "ap({'values': Va, 'none_sources': Na})"
    src = ["def rows(buf, p, end):", "    out = []", "    ap = out.append", "    while p < end:"]
    src += ["        " + b for b in body]
    src += ["        " + row, "    return out, p"]
    code = "\n".join(src) + "\n"
    exec(compile(code, f"<binrpt.rowdecode {n} columns>", "exec"), ns)  # noqa: S102 - our own generated code
    fn = ns["rows"]
    fn.source = code
    return fn


_FUNCS: dict = {}


def decode_event(ev):
    """The rows of a rows event as the library's `ev.rows` would be, or None when this event is left
    to the library. Does not move the event's packet (see install)."""
    try:
        t = ev.event_type
        if t not in _TYPES or not ev.complete:
            return None
        w = ev.packet
        if w._BinLogPacketWrapper__data_buffer:
            return None
        pk = w.packet
        cols = ev.columns
        tbl = ev.table_map.get(ev.table_id)
        if tbl is None or tbl.columns is not cols or ev.number_of_columns != len(cols):
            return None
        d = tbl.__dict__
        local = d.get("_binrpt_fns")  # this TABLE_MAP's decoders by image shape
        if local is None:
            local = d["_binrpt_fns"] = {}
            d["_binrpt_key"] = _table_key(cols)
        update = t in _UPDATE
        shape = (update, ev.columns_present_bitmap, ev.columns_present_bitmap2 if update else None,
                 bool(ev._ignore_decode_errors))
        fn = local.get(shape)
        if fn is None:
            key = d["_binrpt_key"]
            if key is False:
                return None
            fk = (key, *shape)  # the same table and shape under earlier TABLE_MAPs
            fn = _FUNCS.get(fk)
            if fn is None:
                try:
                    fn = compile_event(cols, *shape)
                except _Fallback:
                    fn = False
                if len(_FUNCS) >= _FUNCS_MAX:
                    _FUNCS.clear()
                _FUNCS[fk] = fn
            local[shape] = fn
        if fn is False:
            return None
        p0, buf = pk._position, pk._data
        end = p0 + ev.event_size - w.read_bytes
        if end > len(buf):
            return None  # a short packet: the library's read raises
        rows, p = fn(buf, p0, end)
        if p != end:
            return None
        return rows
    except Exception:  # noqa: BLE001 - anything unexpected: the library's own path decides
        return None


def install(RowsEvent) -> None:
    """Replace RowsEvent._fetch_rows: our decoder, else the library's."""
    if getattr(RowsEvent, "_binrpt_rowdecode", False):
        return
    orig = RowsEvent._fetch_rows

    def library_fetch_rows(self):
        """The library's decoding, with the year 0000 given back: it decodes a YEAR byte 0 as
        1900, a year that no YEAR column holds (1901-2155 and 0000)."""
        orig(self)
        years = [c.name for c in self.columns if c.type == YEAR]
        if years:
            for row in self._RowsEvent__rows:
                for key in ("values", "before_values", "after_values"):
                    vals = row.get(key)
                    if vals:
                        for n in years:
                            if vals.get(n) == 1900:
                                vals[n] = 0

    def _fetch_rows(self):
        rows = decode_event(self)
        if rows is None:
            return library_fetch_rows(self)
        # consume the body as the library does (decode_event saw no data in the wrapper's buffer)
        w = self.packet
        w.advance(self.event_size - w.read_bytes)
        self._RowsEvent__rows = rows

    RowsEvent._binrpt_library_fetch_rows = library_fetch_rows
    RowsEvent._fetch_rows = _fetch_rows
    RowsEvent._binrpt_rowdecode = True
