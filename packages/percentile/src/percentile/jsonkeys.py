"""-k KEY / -g KEY on NDJSON records (imported only when a JSON line is met; msgspec).

A member named exactly KEY is used first; otherwise a KEY with dots is a path into nested
objects (`-k upstream.time` reads {"upstream": {"time": 0.12}}). Only the wanted members are
decoded: a msgspec Struct of raw JSON fields (the rest of a record is skipped by the decoder), a
block of lines in one call when every line is valid, else line by line.

The value comes out as bytes, for the same number parser as LTSV values: a JSON number as
written (`0.120`), a string's text (`"0.120"` -> `0.120`, so `"-"` and `""` are missing as in
LTSV); null or an absent member is missing; true/false, arrays and objects are their JSON text
(not a number). A group value is a string's text, else the member's JSON text (`200`, `true`);
absent or null is the empty value, as an absent LTSV label.
"""
from __future__ import annotations

import msgspec

_RAW0 = msgspec.Raw()


def _fields(key: bytes) -> list[str]:
    k = key.decode("utf-8", "surrogateescape")
    names = [k]
    if "." in k:
        names.append(k.split(".", 1)[0])
    return names


class Extractor:
    def __init__(self, key: bytes, group: bytes | None):
        self.key = key.decode("utf-8", "surrogateescape")
        self.group = group.decode("utf-8", "surrogateescape") if group is not None else None
        wanted: list[str] = []
        for k in (key, group):
            if k is not None:
                for n in _fields(k):
                    if n not in wanted:
                        wanted.append(n)
        self.index = {n: f"f{i}" for i, n in enumerate(wanted)}
        rec = msgspec.defstruct("Rec", [(f, msgspec.Raw, _RAW0) for f in self.index.values()],
                                rename={f: n for n, f in self.index.items()})
        self._one = msgspec.json.Decoder(rec)
        self._many = msgspec.json.Decoder(list[rec])
        self._any = msgspec.json.Decoder()

    def decode_block(self, lines: list[bytes]):
        """The records of lines that all start with '{', or None when one is not a valid object."""
        try:
            return self._many.decode(b"[" + b",".join(lines) + b"]")
        except msgspec.DecodeError:
            return None

    def extract_line(self, line: bytes):
        try:
            rec = self._one.decode(line)
        except msgspec.DecodeError:
            return None
        return self.extract(rec)

    def extract(self, rec):
        """(value bytes or None when missing, group value bytes or None)."""
        v = self._get(rec, self.key)
        if v is not None:
            v = self._value(v)
        gv = None
        if self.group is not None:
            gv = self._get(rec, self.group)
            gv = b"" if gv is None else self._text(gv)
        return v, gv

    def _get(self, rec, key: str):
        """The raw JSON of member `key` (exact name first, then the dotted path), or None."""
        raw = getattr(rec, self.index[key])
        if len(raw):
            return bytes(raw)
        if "." not in key:
            return None
        first, rest = key.split(".", 1)
        raw = getattr(rec, self.index[first])
        if not len(raw):
            return None
        try:
            node = self._any.decode(raw)
        except msgspec.DecodeError:
            return None
        for part in rest.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return msgspec.json.encode(node)

    def _value(self, raw: bytes):
        c = raw[:1]
        if c == b'"':
            s = self._any.decode(raw)
            return s.encode("utf-8", "surrogateescape") if s not in ("", "-") else None
        if raw == b"null":
            return None
        return raw

    def _text(self, raw: bytes) -> bytes:
        if raw[:1] == b'"':
            return self._any.decode(raw).encode("utf-8", "surrogateescape")
        if raw == b"null":
            return b""
        return raw
