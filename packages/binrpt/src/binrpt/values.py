"""Turn python-mysql-replication row images into SQL literals that round-trip exactly.

The library's decoded values need fixing before they can be written back (spec §2.5):
- BIT comes as a str of '0'/'1'          -> int
- SET comes as a Python set               -> 'a,b'; the empty set comes as None ('empty set') -> ''
- BINARY(n) comes right-trimmed of 0x00   -> padded back to n bytes (also UUID, INET6)
- negative TIME with a fraction is wrong  -> fixed (see fix_negative_time)
- zero DATE / DATETIME come as None       -> '0000-00-00' / '0000-00-00 00:00:00'
- TIMESTAMP comes as a naive UTC datetime -> written with the session time_zone '+00:00'
- a column absent from a MINIMAL image    -> left out of the statement, never written as NULL
Values are escaped client-side (as PyMySQL's own parameter binding does), never pasted raw.
"""
from __future__ import annotations

import datetime
import decimal
import hashlib
import json

# MySQL field types (pymysqlreplication.constants.FIELD_TYPE), copied as numbers so that this
# module imports nothing heavy.
T_DATETIME = 12
T_DATE = 10
T_NEWDATE = 14
T_BIT = 16
T_TIMESTAMP2 = 17
T_DATETIME2 = 18
T_TIME2 = 19
T_SET = 248
T_JSON = 245
T_STRING = 254

ABSENT = object()  # a column not present in the row image (binlog_row_image=MINIMAL/NOBLOB)

_ZERO_BY_SOURCE = {
    "out of date range": "0000-00-00",
    "out of datetime range": "0000-00-00 00:00:00",
    "out of datetime2 range": "0000-00-00 00:00:00",
    "empty set": "",
}

_ONE_SECOND = datetime.timedelta(seconds=1)
_ZERO_TD = datetime.timedelta(0)


def fix_negative_time(td: datetime.timedelta) -> datetime.timedelta:
    """python-mysql-replication decodes -12:34:56.78 as -(12:34:57) + 0.78 s. Undo that."""
    if td >= _ZERO_TD or td.microseconds == 0:
        return td
    x = -td
    whole = datetime.timedelta(days=x.days, seconds=x.seconds)
    return -(whole + (_ONE_SECOND - (x - whole)))


def _bit(v):
    return int(v, 2) if isinstance(v, str) else v


def _set(v):
    if isinstance(v, (set, frozenset)):
        return ",".join(sorted(v))
    return v


def column_converters(columns) -> list:
    """One converter (or None) per column of a TABLE_MAP, in column order."""
    out = []
    for c in columns:
        t = c.type
        conv = None
        if t == T_BIT:
            conv = _bit
        elif t == T_SET:
            conv = _set
        elif t == T_TIMESTAMP2:
            conv = _timestamp_conv
        elif t == T_JSON:
            conv = _json_conv
        elif t == T_TIME2 and getattr(c, "fsp", 0):
            conv = _time_conv
        elif t == T_STRING and getattr(c, "character_set_name", None) == "binary":
            n = getattr(c, "max_length", 0) or 0
            if n:
                conv = _pad_conv(n)
        out.append(conv)
    return out


_EPOCH = datetime.datetime(1970, 1, 1)


def _timestamp_conv(v):
    # TIMESTAMP 0 is the zero timestamp, which the library decodes as the epoch
    if v == _EPOCH:
        return "0000-00-00 00:00:00"
    return v


class JsonText(str):
    """The text of a MySQL JSON value (binary JSON decoded by the library into Python objects)."""


class _JsonNullValue:
    """The JSON value null (libfix makes the library decode it as this, not as None = SQL NULL)."""

    __slots__ = ()

    def __repr__(self):
        return "JSON_NULL_VALUE"


JSON_NULL_VALUE = _JsonNullValue()


def _json_text(v) -> str:
    if v is None or v is JSON_NULL_VALUE:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return json.dumps(v)
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, dict):
        return "{" + ", ".join(_json_text(k) + ": " + _json_text(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_json_text(x) for x in v) + "]"
    if isinstance(v, (datetime.datetime, datetime.date, datetime.timedelta)):
        return json.dumps(_dt(v)[1:-1] if isinstance(v, datetime.datetime) else
                          _date(v)[1:-1] if isinstance(v, datetime.date) else _td(v)[1:-1])
    return json.dumps(str(v), ensure_ascii=False)


def _json_conv(v):
    if isinstance(v, JsonText):
        return v
    return JsonText(_json_text(v))


def _time_conv(v):
    if isinstance(v, datetime.timedelta):
        return fix_negative_time(v)
    return v


def _pad_conv(n: int):
    def pad(v):
        if isinstance(v, str):  # the library returns '' when every byte was a trimmed 0x00
            v = v.encode("utf-8")
        if isinstance(v, (bytes, bytearray)) and len(v) < n:
            return bytes(v) + b"\x00" * (n - len(v))
        return v
    return pad


def _none_value(name: str, src: str):
    """The value of a column the library decoded as None for a reason other than SQL NULL
    (`src`, from its none_sources): ABSENT when the image leaves it out, else the zero value the
    server stored (zero dates and the like); a reason we cannot decode is an error."""
    if src == "cols bitmap":
        return ABSENT
    z = _ZERO_BY_SOURCE.get(src)
    if z is None:
        raise ValueError(f"column {name}: value not decodable ({src})")
    return z


def convert_fast(values: dict, none_sources: dict | None, conv_items: list) -> dict:
    """convert_image() for a full image whose keys are the event's column names (the common case):
    fixes the library's dict in place. `conv_items` = [(name, converter)] of the columns that need one."""
    if none_sources:
        for name, src in none_sources.items():
            if src != "null":
                values[name] = _none_value(name, src)
    for name, conv in conv_items:
        v = values[name]
        if v is not None and v is not ABSENT:
            values[name] = conv(v)
    return values


def convert_image(values: dict, none_sources: dict | None, names: list[str], convs: list) -> dict:
    """A decoded image -> {name: value} with fixed values; absent columns get ABSENT."""
    out = {}
    for name, conv in zip(names, convs):
        v = values.get(name)
        if v is None:
            src = none_sources.get(name) if none_sources else None
            out[name] = _none_value(name, src) if src and src != "null" else None
        elif conv is not None:
            out[name] = conv(v)
        else:
            out[name] = v
    return out


# -- masking ----------------------------------------------------------------------------------
MASKS = ("sha256", "null", "empty")


def mask_value(kind: str, v):
    if v is None or v is ABSENT:
        return v
    if kind == "null":
        return None
    if kind == "empty":
        return b"" if isinstance(v, (bytes, bytearray)) else ""
    if kind == "sha256":
        if isinstance(v, str):
            v = v.encode("utf-8")
        elif not isinstance(v, (bytes, bytearray)):
            v = str(v).encode()
        return hashlib.sha256(v).hexdigest()
    raise ValueError(f"unknown mask {kind!r}")


# -- SQL literals -----------------------------------------------------------------------------
_ESC = {0: "\\0", 10: "\\n", 13: "\\r", 26: "\\Z", 39: "\\'", 34: '\\"', 92: "\\\\"}


def _str(v: str) -> str:
    return "'" + v.translate(_ESC) + "'"


def _bytes(v) -> str:
    return "X'" + bytes(v).hex() + "'"


def _dt(v: datetime.datetime) -> str:
    if v.microsecond:
        return f"'{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}'"
    return f"'{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}'"


def _date(v: datetime.date) -> str:
    return f"'{v.year:04d}-{v.month:02d}-{v.day:02d}'"


def _td(v: datetime.timedelta) -> str:
    sign = "-" if v < _ZERO_TD else ""
    v = abs(v)
    total = v.days * 86400 + v.seconds
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if v.microseconds:
        return f"'{sign}{h:02d}:{m:02d}:{s:02d}.{v.microseconds:06d}'"
    return f"'{sign}{h:02d}:{m:02d}:{s:02d}'"


def _dec(v: decimal.Decimal) -> str:
    return format(v, "f")


def _float(v: float) -> str:
    r = repr(v)
    if r in ("inf", "-inf", "nan"):
        raise ValueError(f"float {r} has no SQL literal")
    return r


_LIT = {
    type(None): lambda v: "NULL",
    int: str,
    bool: lambda v: "1" if v else "0",
    float: _float,
    str: _str,
    bytes: _bytes,
    bytearray: _bytes,
    decimal.Decimal: _dec,
    datetime.datetime: _dt,
    datetime.date: _date,
    datetime.timedelta: _td,
    set: lambda v: _str(",".join(sorted(v))),
    frozenset: lambda v: _str(",".join(sorted(v))),
    JsonText: _str,
}


def set_json_target(mysql: bool) -> None:
    """JSON values are written as text to MariaDB (JSON is LONGTEXT there) and cast to JSON for
    MySQL, whose JSON columns compare with JSON values (a WHERE on a no-key table)."""
    _LIT[JsonText] = (lambda v: "CAST(" + _str(v) + " AS JSON)") if mysql else _str


def literal(v) -> str:
    f = _LIT.get(type(v))
    if f is None:
        for t, g in _LIT.items():
            if t is not type(None) and isinstance(v, t):
                return g(v)
        raise TypeError(f"no SQL literal for {type(v).__name__}")
    return f(v)


def quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def jsonable(v):
    """A row value for the dead-letter table (JSON)."""
    if v is ABSENT:
        return {"absent": True}
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, (int, str)) or v is None:
        return v
    if isinstance(v, float):
        return repr(v)
    return str(v)
