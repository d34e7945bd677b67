"""Splitting SQL text into statements: the delimiter counts only outside quotes ('...', "...",
`...`) and comments (-- ..., # ..., /* ... */). Pure functions."""
from __future__ import annotations

import os


def split(text: str, delimiter: str = ";") -> list[str]:
    """Statements of `text`, trimmed, empty ones dropped."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    dl = len(delimiter)
    while i < n:
        c = text[i]
        if c in "'\"`":
            j = i + 1
            while j < n:
                if text[j] == "\\" and c != "`":
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:     # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            buf.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "#" or (c == "-" and text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n")):
            j = text.find("\n", i)
            j = n if j < 0 else j
            buf.append(text[i:j])
            i = j
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            buf.append(text[i:j])
            i = j
            continue
        if text.startswith(delimiter, i):
            out.append("".join(buf))
            buf = []
            i += dl
            continue
        buf.append(c)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if _has_code(s)]


def _has_code(stmt: str) -> bool:
    """False for an empty or comment-only piece (it would be error 1065 'Query was empty')."""
    s = stmt.strip()
    while s:
        if s.startswith("--") or s.startswith("#"):
            nl = s.find("\n")
            s = "" if nl < 0 else s[nl + 1:].strip()
        elif s.startswith("/*") and not s.startswith("/*!"):
            end = s.find("*/")
            s = "" if end < 0 else s[end + 2:].strip()
        else:
            return True
    return False


class NotUTF8(ValueError):
    pass


def text_or_file(value: str) -> str:
    """Upstream's rule: the value is SQL, unless it names an existing file, whose text is used.
    The SQL must be UTF-8 (the connection's character set): anything else is refused here, with
    the offset, rather than failing each statement at run time."""
    if value and os.path.isfile(value):
        with open(value, "rb") as f:
            data = f.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NotUTF8(f"{value}: not valid UTF-8 (byte {e.start})") from None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NotUTF8(f"SQL argument not valid UTF-8 (character {e.start})") from None
    return value


def statement_type(sql: str) -> str:
    """SELECT, INSERT, UPDATE, DELETE, REPLACE, COMMIT, ... (first keyword), OTHER if none."""
    s = sql.lstrip()
    while s.startswith("/*") and not s.startswith("/*!"):
        end = s.find("*/")
        if end < 0:
            return "OTHER"
        s = s[end + 2:].lstrip()
    word = ""
    for ch in s:
        if ch.isalpha() or ch == "_":
            word += ch
        else:
            break
    word = word.upper()
    return word if word in {"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "COMMIT", "BEGIN", "SET", "CALL",
                            "WITH", "SHOW", "ROLLBACK", "START", "DO"} else "OTHER"
