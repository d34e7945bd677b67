"""X-Original-URI -> the path the prefix rules are matched against, or BadURI.

The query and fragment are dropped; percent-encoding is decoded (so `%2e%2e` is `..`) except that
an encoded slash or backslash (`%2f`, `%5c`), a NUL, a backslash, or a malformed escape refuses
the URI (the backend may decode them into separators after we matched); empty segments (`//`)
collapse; `.` and `..` segments are resolved as RFC 3986 does, and a `..` above the root refuses
the URI. The result starts and ends with `/` (upstream's rule, so `/a` matches a `/a/` prefix)."""
from __future__ import annotations

import re

_ESC = re.compile(rb"%([0-9A-Fa-f]{2})")


class BadURI(ValueError):
    pass


def normalise(raw: str) -> str:
    if not raw:
        raise BadURI("empty URI")
    path = raw.split("?", 1)[0].split("#", 1)[0]
    if "://" in path[:16] and not path.startswith("/"):     # absolute-form: http://host/path
        after = path.split("://", 1)[1]
        path = "/" + after.split("/", 1)[1] if "/" in after else "/"
    if not path.startswith("/"):
        raise BadURI("not an absolute path")
    b = path.encode("utf-8", "surrogateescape")
    if b"\\" in b:
        raise BadURI("backslash")
    if b.count(b"%") != len(_ESC.findall(b)):
        raise BadURI("malformed percent-encoding")

    def dec(m):
        v = int(m.group(1), 16)
        if v in (0x2F, 0x5C, 0x00):
            raise BadURI("encoded slash, backslash or NUL")
        return bytes([v])
    b = _ESC.sub(dec, b)
    out: list[bytes] = []
    for seg in b.split(b"/")[1:]:
        if seg in (b"", b"."):
            continue
        if seg == b"..":
            if not out:
                raise BadURI("above the root")
            out.pop()
            continue
        out.append(seg)
    return ("/" + "/".join(s.decode("utf-8", "surrogateescape") for s in out) + "/").replace("//", "/")


def normalise_rule(path: str) -> str:
    """A service path as upstream stores it: with a leading and a trailing `/`."""
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return path


def lint_rule(path: str) -> str | None:
    """Why a configured path can never match a normalised URI (None when it can)."""
    p = normalise_rule(path)
    if "%" in p:
        return "percent-encoded (URIs are decoded before matching: write the decoded form)"
    if "//" in p:
        return "empty segment (// never appears in a normalised URI)"
    if any(s in (".", "..") for s in p.split("/")):
        return "dot segment (never appears in a normalised URI)"
    if "?" in p or "#" in p:
        return "query or fragment (the query is dropped before matching)"
    return None
