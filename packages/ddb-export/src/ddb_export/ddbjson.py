"""DynamoDB JSON (the wire format and the Export to S3 lines) <-> plain JSON, and item sizes.

Items arrive as parsed by json.loads from the Scan response: every number is still its decimal
text ({"N": "12345678901234567890123456789012345678"}), binary is base64 text. Nothing here goes
through a float: plain numbers are written from that text.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal, InvalidOperation

_encode_str = json.encoder.encode_basestring_ascii  # the C escaper json.dumps uses
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


class FormatError(ValueError):
    """An attribute value that is no DynamoDB JSON."""


# -- DynamoDB JSON lines (the native export's format) --------------------------------------
def ddb_lines(items: list[dict]) -> bytes:
    """`{"Item": {...}}` per item, one a line: the Export to S3 line, types exact."""
    if not items:
        return b""
    dumps = json.dumps
    return ("\n".join(['{"Item":' + dumps(it, separators=(",", ":"), ensure_ascii=False) + "}"
                       for it in items]) + "\n").encode("utf-8", "surrogatepass")


# -- plain JSON ----------------------------------------------------------------------------
def number_text(text: str) -> str:
    """A DynamoDB number's decimal text as a JSON number, never through a float."""
    t = text.strip()
    if _JSON_NUMBER.match(t):
        return t
    try:
        d = Decimal(t)
    except InvalidOperation:
        raise FormatError(f"not a number: {text!r}") from None
    if not d.is_finite():
        raise FormatError(f"not a number: {text!r}")
    s = str(d)
    if not _JSON_NUMBER.match(s):           # "1E+3" is JSON; str(Decimal) never gives ".5"
        s = format(d, "f")
    return s


def _b64_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"not base64: {text[:40]!r}") from None


def _plain(v, out: list) -> None:
    if type(v) is not dict or len(v) != 1:
        raise FormatError(f"not an attribute value: {str(v)[:60]}")
    (t, x), = v.items()
    if t == "S":
        out.append(_encode_str(x))
    elif t == "N":
        out.append(number_text(x))
    elif t == "M":
        if not x:
            out.append("{}")
            return
        out.append("{")
        first = True
        for k, e in x.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(k))
            out.append(":")
            _plain(e, out)
        out.append("}")
    elif t == "L":
        out.append("[")
        for i, e in enumerate(x):
            if i:
                out.append(",")
            _plain(e, out)
        out.append("]")
    elif t == "BOOL":
        out.append("true" if x else "false")
    elif t == "NULL":
        out.append("null")
    elif t == "B":
        _b64_bytes(x)
        out.append(_encode_str(x))
    elif t == "SS":
        out.append("[" + ",".join(_encode_str(s) for s in sorted(x)) + "]")
    elif t == "NS":
        nums = sorted((Decimal(number_text(n)), number_text(n)) for n in x)
        out.append("[" + ",".join(s for _, s in nums) + "]")
    elif t == "BS":
        out.append("[" + ",".join(_encode_str(s) for _, s in sorted((_b64_bytes(b), b) for b in x)) + "]")
    else:
        raise FormatError(f"unknown attribute type {t!r}")


def plain_item(item: dict) -> str:
    """One item as ordinary JSON text (numbers from their decimal text, sets as sorted lists,
    binary as its base64 text)."""
    return plain_value({"M": item})


def plain_value(v: dict) -> str:
    out: list = []
    _plain(v, out)
    return "".join(out)


def plain_lines(items: list[dict]) -> bytes:
    if not items:
        return b""
    return ("\n".join([plain_item(it) for it in items]) + "\n").encode("ascii")


# -- the other way: Python values -> DynamoDB JSON ------------------------------------------
def to_ddb(v) -> dict:
    """A Python value (str, int, Decimal, bytes, bool, None, list, dict, set/frozenset of one
    kind) as a DynamoDB JSON attribute value. Floats are refused: they are not exact."""
    if v is None:
        return {"NULL": True}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, (int, Decimal)):
        return {"N": str(v)}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, (bytes, bytearray)):
        return {"B": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, (list, tuple)):
        return {"L": [to_ddb(e) for e in v]}
    if isinstance(v, dict):
        return {"M": {k: to_ddb(e) for k, e in v.items()}}
    if isinstance(v, (set, frozenset)):
        if v and all(isinstance(e, str) for e in v):
            return {"SS": sorted(v)}
        if v and all(isinstance(e, (int, Decimal)) and not isinstance(e, bool) for e in v):
            return {"NS": [str(e) for e in sorted(v)]}
        if v and all(isinstance(e, (bytes, bytearray)) for e in v):
            return {"BS": [base64.b64encode(bytes(e)).decode("ascii") for e in sorted(v)]}
        raise FormatError("a set must be non-empty and of one kind (str, number or bytes)")
    raise FormatError(f"no DynamoDB type for {type(v).__name__}")


def to_ddb_item(d: dict) -> dict:
    return {k: to_ddb(v) for k, v in d.items()}


# -- item sizes (the DynamoDB developer guide's "Item sizes and formats") --------------------
def number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeros trimmed), plus 1."""
    digits = text.lstrip("+-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return (max(len(digits), 1) + 1) // 2 + 1


def _b64_len(text: str) -> int:
    n = len(text)
    return n * 3 // 4 - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)


def value_size(v: dict) -> int:
    (t, x), = v.items()
    if t == "S":
        return len(x) if x.isascii() else len(x.encode("utf-8", "surrogatepass"))
    if t == "N":
        return number_size(x)
    if t == "B":
        return _b64_len(x)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "M":
        return 3 + sum(1 + len(k.encode("utf-8", "surrogatepass")) + value_size(e) for k, e in x.items())
    if t == "L":
        return 3 + sum(1 + value_size(e) for e in x)
    if t == "SS":
        return sum(len(s.encode("utf-8", "surrogatepass")) for s in x)
    if t == "NS":
        return sum(number_size(s) for s in x)
    if t == "BS":
        return sum(_b64_len(s) for s in x)
    raise FormatError(f"unknown attribute type {t!r}")


def item_size(item: dict) -> int:
    """The item's size in bytes: attribute names' UTF-8 lengths plus the values' sizes."""
    return sum(len(k.encode("utf-8", "surrogatepass")) + value_size(v) for k, v in item.items())


def page_rcu(total_bytes: int, consistent: bool) -> float:
    """A scan page's read units: its items' total size rounded up to 4 KB, 0.5 per 4 KB
    eventually consistent, 1 per 4 KB with ConsistentRead."""
    units = max(1, -(-total_bytes // 4096))
    return units * (1.0 if consistent else 0.5)
