"""Decoder fixes installed into python-mysql-replication (version-pinned in pyproject).

The library turns any DATE/DATETIME it cannot build a Python object for into None, so a partial
zero date ('2024-00-15', allowed without NO_ZERO_IN_DATE) would be written as '0000-00-00' or
NULL: data lost. These replacements decode the same bits and return such values as their SQL
text, which the target takes back verbatim.

MySQL binary JSON: the JSON value null is decoded as None and then reported as SQL NULL; the
replacement literal reader returns a marker for it, written back as the JSON text `null`.
"""
from __future__ import annotations

import datetime


def date_value(t: int):
    """A DATE from its 3-byte number (day 5 bits, month 4, year 15): None for the zero date, the SQL
    text of a partial zero date. Also binrpt.rowdecode's."""
    if t == 0:
        return None  # reported as 'out of date range': written back as 0000-00-00
    y, m, d = (t >> 9) & 0x7FFF, (t >> 5) & 0xF, t & 0x1F
    try:
        return datetime.date(y, m, d)
    except ValueError:
        return f"{y:04d}-{m:02d}-{d:02d}"


def datetime2_value(data: int, us: int):
    """A DATETIME2 from its 5-byte big-endian number and its fraction (microseconds): the SQL text
    when no datetime holds it. Also binrpt.rowdecode's."""
    ym = (data >> 22) & 0x1FFFF
    y, mo = divmod(ym, 13)
    d, h, mi, s = (data >> 17) & 0x1F, (data >> 12) & 0x1F, (data >> 6) & 0x3F, data & 0x3F
    try:
        return datetime.datetime(y, mo, d, h, mi, s, us)
    except ValueError:
        text = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"
        return text + (f".{us:06d}" if us else "")


def _read_date(self):
    return date_value(self.packet.read_uint24())


def _read_datetime2(self, column):
    data = self.packet.read_int_be_by_size(5)
    return datetime2_value(data, self._RowsEvent__read_fsp(column))


def _table_init(self, table_id, schema, table, columns, primary_key=None, column_name_flag=False):
    # same result as the library's, without building a dict per column twice (a hot path)
    if primary_key is None:
        pk = [getattr(c, "name", None) for c in columns if getattr(c, "is_primary", False)]
        primary_key = "" if not pk else (pk[0] if len(pk) == 1 else tuple(pk))
    self.__dict__.update({"table_id": table_id, "schema": schema, "table": table, "columns": columns,
                          "primary_key": primary_key, "column_name_flag": column_name_flag})


def _make_parse_literal(orig):
    from .values import JSON_NULL_VALUE

    def parse_literal(data):
        # MySQL binary JSON: the library decodes the JSON value null as None, which it then reports as
        # SQL NULL (none_sources 'null'): a JSON column holding null would be written as NULL
        if data[0] == 0:  # JSONB_LITERAL_NULL
            return JSON_NULL_VALUE
        return orig(data)
    return parse_literal


def install() -> None:
    from pymysqlreplication import json_binary
    from pymysqlreplication.row_event import RowsEvent
    from pymysqlreplication.table import Table
    if getattr(RowsEvent, "_binrpt_fixed", False):
        return
    if not hasattr(RowsEvent, "_RowsEvent__read_date") or not hasattr(RowsEvent, "_RowsEvent__read_datetime2"):
        return  # a library version we do not know: leave it alone
    RowsEvent._RowsEvent__read_date = _read_date
    RowsEvent._RowsEvent__read_datetime2 = _read_datetime2
    Table.__init__ = _table_init
    if getattr(json_binary, "JSONB_LITERAL_NULL", None) == 0 and hasattr(json_binary, "parse_literal"):
        json_binary.parse_literal = _make_parse_literal(json_binary.parse_literal)
    # rows events: binrpt's own decoder (the library's path for what it does not handle)
    from .rowdecode import install as install_rowdecode
    install_rowdecode(RowsEvent)
    RowsEvent._binrpt_fixed = True
