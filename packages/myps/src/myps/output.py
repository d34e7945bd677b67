"""Turning processlist rows into LTSV or JSON lines (bytes in, bytes out, no I/O here)."""
from __future__ import annotations

import json
import re
import unicodedata

INFO_LIMIT = 110          # code points of INFO shown without --full (upstream's limit)
FIELDS = ("USER", "HOST", "DB", "COMMAND", "TIME", "STATE", "INFO")

GREEN, RED, MAGENTA, RESET = b"\x1b[32m", b"\x1b[31m", b"\x1b[35m", b"\x1b[0m"
LABEL_COLOUR = {"ID": GREEN, "KILLED": RED, "GONE": GREEN, "FAILED": RED, "WOULD-KILL": GREEN}

_SIMPLE = re.compile(rb"[\x20-\x5b\x5d-\x7e]*\Z")   # printable ASCII without backslash
_NAMED = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 0x5C: "\\\\"}


def _printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def escape(value: bytes) -> bytes:
    """Escape a value the way upstream does (Go %q without the quotes, `"` left as is).

    TAB, LF, CR, backslash and other control or non-printable characters become escapes, invalid
    UTF-8 bytes become \\xNN, printable non-ASCII text is kept: the result never holds a raw TAB
    or newline, so the LTSV line stays parseable.
    """
    if _SIMPLE.match(value):
        return value
    text = value.decode("utf-8", "surrogateescape")
    out = []
    for ch in text:
        o = ord(ch)
        if o in _NAMED:
            out.append(_NAMED[o])
        elif 0xDC80 <= o <= 0xDCFF:               # an undecodable byte
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x80:
            out.append(ch if 0x20 <= o < 0x7F else f"\\x{o:02x}")
        elif _printable(ch):
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out).encode("utf-8")


def truncate_info(info: bytes, full: bool) -> bytes:
    """First INFO_LIMIT code points of INFO unless `full` (before escaping, as upstream)."""
    if full or len(info) <= INFO_LIMIT:
        return info
    text = info.decode("utf-8", "surrogateescape")
    if len(text) <= INFO_LIMIT:
        return info
    return text[:INFO_LIMIT].encode("utf-8", "surrogateescape")


def _field(label: bytes, value: bytes, colour: bytes | None, value_colour: bool) -> bytes:
    if colour is None:
        return label + b":" + value
    return colour + label + RESET + b":" + (MAGENTA + value + RESET if value_colour else value)


def ltsv_line(label: str, row: dict, full: bool = False, colour: bool = False,
              extra: list[tuple[str, bytes]] | None = None) -> bytes:
    """One LTSV line: `<label>:<id>` then USER, HOST, DB, COMMAND, TIME, STATE, INFO (+ extra)."""
    parts = [_field(label.encode(), str(row["ID"]).encode(),
                    LABEL_COLOUR.get(label, GREEN) if colour else None, True)]
    for name in FIELDS:
        v = row[name]
        if name == "INFO":
            v = truncate_info(v, full)
        if isinstance(v, (int, float)):
            v = str(v).encode()
        parts.append(_field(name.encode(), escape(v), GREEN if colour else None, True))
    for name, v in extra or ():
        parts.append(_field(name.encode(), escape(v), GREEN if colour else None, True))
    return b"\t".join(parts) + b"\n"


def json_line(label: str, row: dict, full: bool = False, extra: dict | None = None) -> bytes:
    """One JSON object per line; text values decoded as UTF-8 (invalid bytes as U+FFFD)."""
    obj: dict = {"action": label, "id": row["ID"]}
    for name in FIELDS:
        v = row[name]
        if name == "INFO":
            v = truncate_info(v, full)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        obj[name.lower()] = v
    if row.get("TIME_MS") is not None:
        obj["time_ms"] = float(row["TIME_MS"])
    if row.get("QUERY_ID") is not None:
        obj["query_id"] = row["QUERY_ID"]
    if extra:
        obj.update(extra)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
