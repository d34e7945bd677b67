"""Reading NDJSON lines in blocks and extracting their keys (msgspec), with the bad-record rules.

Lines are kept as the exact input bytes without the final `\\n` (a `\\r` before it stays). What
is valid is jq's notion: a leading BOM is ignored, invalid UTF-8 and lone surrogate escapes
(`"\\ud800"`) decode as U+FFFD. A blank line, and a line that is JSON but not an object, have no
key: they are treated like a line without the key. A line that is not JSON is bad: counted, the
first one reported with its line number, and kept as a line without the key
(`on_invalid="keep"`), dropped (`"skip"`) or fatal (`"error"`).
"""
from __future__ import annotations

import gzip
import io
import os
import select
import stat
import sys
from collections import deque
from decimal import Decimal
from operator import attrgetter
from typing import Any

import msgspec

from .keys import R_HIGH, R_LOW, Desc, KeySpec, fold, key_function

MISSING = msgspec.UNSET
UnsetType = type(MISSING)
NUMTYPES = {int, Decimal}
BLOCK_BYTES = 1 << 22
# msgspec raises UnicodeDecodeError (not DecodeError) for invalid UTF-8 inside a string
BAD_JSON = (msgspec.DecodeError, UnicodeDecodeError)


# control characters (ESC, CR, ...) of a shown line escaped: a binary line must not drive the terminal
_CTRL = {c: f"\\x{c:02x}" for c in (*range(32), 127)}


def show(line: bytes, limit: int = 200) -> str:
    """The start of a line for a message: invalid UTF-8 and control characters as \\xNN."""
    return line[:limit].decode("utf-8", "backslashreplace").translate(_CTRL)


class DataError(Exception):
    """A bad record under --strict / --invalid error / --missing error: exit 1."""


class Stats:
    def __init__(self, prog: str):
        self.prog = prog
        self.invalid = 0
        self.first_invalid = None
        self.missing = 0
        self.missing_skipped = 0
        self.invalid_skipped = 0
        self.first_missing = None
        self.lines = 0
        # what happened to them, in the words of the tool
        self.invalid_words = "skipped"
        self.missing_words = "sorted as missing"
        self.skipped_words = "skipped"
        self.defer = False        # a worker process: keep the first warning for the parent
        self.first_warning = None

    def warn_first(self, text: str):
        if self.defer:
            self.first_warning = text
        else:
            print(text, file=sys.stderr)

    def summary(self, keys_text: str) -> list[str]:
        out = []
        if self.invalid:
            what = self.skipped_words if self.invalid_skipped else self.invalid_words
            out.append(f"{self.prog}: warning: {self.invalid} invalid line(s) {what} "
                       f"(first: {self.first_invalid})")
        if self.missing:
            what = self.skipped_words if self.missing_skipped else self.missing_words
            out.append(f"{self.prog}: warning: {self.missing} line(s) without key {keys_text} {what} "
                       f"(first: {self.first_missing})")
        return out


def open_input(name: str):
    """A binary stream for FILE (`-` = stdin; `.gz` decompressed). Raises OSError."""
    if name == "-":
        return sys.stdin.buffer
    if name.endswith(".gz"):
        f = gzip.open(name, "rb")
        f.peek(1)  # fail now (not a gzip file, unreadable) rather than in the middle
        return f
    return open(name, "rb", buffering=0)


def _unreader(f):
    """A function giving back the last n bytes read from f (so that the next read starts with
    them), or None: a regular file read without a buffer (seek back), or a reader that has an
    `unread` method (parallel.RangeReader)."""
    u = getattr(f, "unread", None)
    if u is not None:
        return u
    if isinstance(f, io.FileIO):
        try:
            if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return lambda n: f.seek(-n, 1)
        except (OSError, ValueError):
            pass
    return None


def iter_blocks(f, block_bytes: int = BLOCK_BYTES, raw: bool = False):
    """Yield lists of lines (bytes, no trailing newline); a last line without newline included.
    With raw=True, yield (lines, data, end): data[:end] is the lines joined by newlines.
    The partial line at the end of a block is read again with the next block when f can give
    it back (a regular file): no copy of each block behind the carried bytes."""
    carry = b""
    read = f.read
    unread = _unreader(f)
    while True:
        try:
            data = read(block_bytes)
        except BlockingIOError:
            data = None
        if data is None:  # stdin inherited O_NONBLOCK, nothing ready yet: not the end of input
            select.select([f], [], [])
            continue
        if not data:
            break
        if carry:
            data = carry + data
        end = data.rfind(b"\n")
        if end < 0:
            carry = data
            continue
        lines = data.split(b"\n")
        carry = lines.pop()
        if carry and unread is not None:  # (carry holds no newline: the tail is in this read)
            unread(len(carry))
            carry = b""
        yield (lines, data, end) if raw else lines
    if carry:
        yield ([carry], carry, len(carry)) if raw else [carry]


def _walk(v, rest):
    for p in rest:
        t = type(v)
        if t is dict:
            if type(p) is int:
                p = str(p)
            v = v.get(p, MISSING)
            if v is MISSING:
                return MISSING
        elif t is list and type(p) is int:
            try:
                v = v[p] if p >= -len(v) else MISSING
            except IndexError:
                return MISSING
        else:
            return MISSING
    return v


class Extractor:
    """Decode lines into the values of the key paths (MISSING where a path has no value)."""

    def __init__(self, specs: list[KeySpec], stats: Stats, on_invalid: str = "keep",
                 allow_missing: bool = True):
        self.specs = specs
        self.stats = stats
        self.on_invalid = on_invalid
        tops: list[str] = []
        for s in specs:
            if str(s.path[0]) not in tops:
                tops.append(str(s.path[0]))
        fields = [(f"f{i}", Any, MISSING) for i in range(len(tops))]
        rename = {f"f{i}": t for i, t in enumerate(tops)}
        self.struct = msgspec.defstruct("Keys", fields, rename=rename, gc=False)
        self.dec = msgspec.json.Decoder(self.struct, float_hook=Decimal)
        self.any_dec = msgspec.json.Decoder(float_hook=Decimal)
        # keys that are top-level members: first tried as required strings, which leaves out
        # the pass over the values for their types (until a block has another value: then no
        # more tries)
        self.str_dec = None
        if all(len(s.path) == 1 for s in specs):
            sfields = [(f"f{i}", str) for i in range(len(tops))]
            self.str_dec = msgspec.json.Decoder(
                msgspec.defstruct("StrKeys", sfields, rename=rename, gc=False))
        self.str_get = attrgetter("f0") if len(specs) == 1 and self.str_dec else None
        self.sink = None          # a dict key -> lines (Sorter.feed_from), filled by block()
        self.line_base = None     # None, or a callable: lines before line 1 (messages only)
        self.sink_lines = 0       # the lines in it before the block
        self.getters = []
        for s in specs:
            g = attrgetter(f"f{tops.index(str(s.path[0]))}")
            self.getters.append((g, s.path[1:]))
        self.pending = None
        self.invalid_idx: set = set()
        self.shared: dict = {}
        self.share = True         # equal key strings made one object (jlsort's Sorter does it)
        self.last_str: tuple = ()
        self.need_missing_check = any(s.missing in ("error", "skip") for s in specs)
        self.skip_missing = any(s.missing == "skip" for s in specs)
        self.error_missing = any(s.missing == "error" for s in specs)

    def _vals(self, structs):
        comps = []
        for g, rest in self.getters:
            vals = list(map(g, structs))
            if rest:
                vals = [_walk(v, rest) for v in vals]
            comps.append(vals)
        return comps

    def block(self, lines: list[bytes], src: str, lineno0: int):
        """-> (kept_lines, comps, linenos or None). lineno0 = number of lines before the block."""
        self.invalid_idx = bad = set()
        sink = self.sink
        if sink is not None and self.str_dec is not None and lines:
            # the caller's grouped buffer (Sorter.feed_from): each line is decoded, its key read
            # and the line appended to the key's list in one C-level pass, while both are in
            # the cache; -> (lines, None, None). A line that fails undoes the appends of the
            # lines before it, and the block takes the path below.
            get, dec = self.str_get, self.str_dec.decode
            try:
                deque(map(list.append, map(sink.__getitem__, map(get, map(dec, lines))), lines), 0)
            except (msgspec.ValidationError, *BAD_JSON):
                self._unsink(sink, lines)
            else:
                self.last_str = (True,)
                return lines, None, None
        if self.str_dec is not None and lines:
            try:
                if self.str_get is not None:
                    # one key: the struct of each line is dropped as soon as its key is read
                    comps = [list(map(self.str_get, map(self.str_dec.decode, lines)))]
                else:
                    comps = self._vals(list(map(self.str_dec.decode, lines)))
            except msgspec.ValidationError:  # a value that is not a string, or missing
                comps, self.str_dec = None, None
            except BAD_JSON:
                comps = None
            if comps is not None:
                if self.share and len(lines) > 64:
                    d = self.shared
                    for vals in comps:
                        if len(d) > 1 << 16:
                            d.clear()
                        vals[:] = map(d.setdefault, vals, vals)
                self.last_str = (True,) * len(comps)
                return lines, comps, None
        try:
            # one decode call per line: as fast as one decode_lines call per block over the
            # same lines (which also needs a pass to check that each line is one value), and
            # exact (a line that fails is found again by _slow)
            structs = list(map(self.dec.decode, lines))
            linenos = None
        except (msgspec.DecodeError, UnicodeDecodeError, msgspec.ValidationError):
            structs, lines, linenos = self._slow(lines, src, lineno0)
        pending, self.pending = self.pending, None
        comps = self._vals(structs)
        # missing keys: count, report, maybe skip
        miss_pos = None
        strs = []
        for vals in comps:
            types = set(map(type, vals))
            strs.append(types == {str})
            if UnsetType in types:
                miss_pos = miss_pos or set()
                miss_pos.update(i for i, v in enumerate(vals) if v is MISSING)
            elif self.share and types == {str} and len(vals) > 64:
                # equal strings become one object, across blocks: less memory, and the sort
                # compares keys that stay in the cache (reset when there are too many)
                d = self.shared
                if len(d) > 1 << 16:
                    d.clear()
                vals[:] = map(d.setdefault, vals, vals)
        if miss_pos:
            st = self.stats
            first = min(miss_pos)
            ln = self._ln(linenos[first] if linenos else lineno0 + first + 1)
            if self.error_missing:
                raise DataError(f"{src}:{ln}: no key {self._keys_text()}: "
                                f"{show(lines[first])}")
            # lines that are not JSON are counted as such, not again as lines without the key
            real = miss_pos - bad if bad else miss_pos
            if real and st.first_missing is None:
                f = min(real)
                st.first_missing = f"{src}:{self._ln(linenos[f] if linenos else lineno0 + f + 1)}"
            st.missing += len(real)
            if self.skip_missing:
                st.missing_skipped += len(real)
                st.invalid_skipped += len(miss_pos) - len(real)
                keep = [i for i in range(len(lines)) if i not in miss_pos]
                lines = [lines[i] for i in keep]
                comps = [[vals[i] for i in keep] for vals in comps]
                if linenos:
                    linenos = [linenos[i] for i in keep]
                else:
                    linenos = [lineno0 + i + 1 for i in keep]
        self.last_str = tuple(strs)  # per key: every value of the block is a string
        if pending:
            raise DataError(pending)
        return lines, comps, linenos

    def _unsink(self, sink, lines):
        """Take the first lines of a block out of sink again (the ones appended before a line
        failed): each is the last item of its key's list; a list left empty goes."""
        done = sum(map(len, sink.values())) - self.sink_lines
        get, dec = self.str_get, self.str_dec.decode
        for line in reversed(lines[:done]):
            k = get(dec(line))
            lst = sink[k]
            if lst.pop() is not line:
                raise AssertionError("grouped buffer out of step")
            if not lst:
                del sink[k]

    def _ln(self, n: int) -> int:
        """Line n of the input being read, as a message names it (see line_base)."""
        return n if self.line_base is None else n + self.line_base()

    def _keys_text(self) -> str:
        return ", ".join(f"'{s.text}'" for s in self.specs)

    def _slow(self, lines, src, lineno0):
        dec = self.dec
        structs, kept, linenos = [], [], []
        empty = self.struct()
        bad = self.invalid_idx
        for i, line in enumerate(lines):
            try:
                s = dec.decode(line)
            except msgspec.ValidationError:
                s = empty  # JSON, but not an object: no key
                try:
                    self.any_dec.decode(line)
                except BAD_JSON:
                    s = self._lenient(line, empty)
            except BAD_JSON:
                s = self._lenient(line, empty)
            if s is None:
                if not line.strip():
                    s = empty  # a blank line: kept, without the key
                else:
                    err = _why(dec, line)
                    if self._invalid(line, src, self._ln(lineno0 + i + 1), err):
                        break
                    if self.on_invalid == "skip":
                        self.stats.invalid_skipped += 1
                        continue
                    bad.add(len(kept))
                    s = empty
            structs.append(s)
            kept.append(line)
            linenos.append(lineno0 + i + 1)
        return structs, kept, linenos

    def _lenient(self, line, empty):
        """jq's notion of valid JSON, for a line msgspec refused: a leading BOM ignored, invalid
        UTF-8 and lone surrogate escapes decoded as U+FFFD. -> a struct (empty when the value is
        not an object), or None when the line is not JSON."""
        global _json_mod, _reencode
        if _json_mod is None:
            import json
            _json_mod = json
            _reencode = msgspec.json.Encoder(decimal_format="number").encode
        data = line[3:] if line.startswith(b"\xef\xbb\xbf") else line
        try:
            v = _json_mod.loads(data.decode("utf-8", "replace"), parse_float=Decimal,
                                parse_constant=_no_constant)
        except (ValueError, RecursionError):
            return None
        if type(v) is not dict:
            return empty
        try:
            return self.dec.decode(_reencode(_clean(v)))
        except (msgspec.DecodeError, msgspec.EncodeError, UnicodeError, RecursionError):
            return None

    def _invalid(self, line, src, lineno, err):
        """Count and report a line that is not JSON; True when it stops the run (error)."""
        st = self.stats
        msg = f"{src}:{lineno}: invalid JSON ({err}): {show(line)}"
        if self.on_invalid == "error":
            self.pending = msg  # raised after the lines before it are checked
            return True
        st.invalid += 1
        if st.first_invalid is None:
            st.first_invalid = f"{src}:{lineno}"
            st.warn_first(f"{st.prog}: warning: {msg}")
        return False


_json_mod = None
_reencode = None
_SURROGATES = None


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _clean(v):
    """Lone surrogates (from \\udXXX escapes) replaced by U+FFFD, in strings and member names."""
    global _SURROGATES
    t = type(v)
    if t is str:
        if _SURROGATES is None:
            import re
            _SURROGATES = re.compile("[\ud800-\udfff]")
        return _SURROGATES.sub("\ufffd", v)
    if t is list:
        return [_clean(x) for x in v]
    if t is dict:
        return {_clean(k): _clean(x) for k, x in v.items()}
    return v


_any_dec = None


def lenient_value(line: bytes):
    """The whole JSON value of a line as jq reads it (see Extractor._lenient), or None when the
    line is not JSON."""
    global _any_dec, _json_mod
    if _any_dec is None:
        _any_dec = msgspec.json.Decoder(float_hook=Decimal).decode
    try:
        return _any_dec(line)
    except BAD_JSON:
        pass
    if _json_mod is None:
        import json
        _json_mod = json
    data = line[3:] if line.startswith(b"\xef\xbb\xbf") else line
    try:
        return _clean(_json_mod.loads(data.decode("utf-8", "replace"), parse_float=Decimal,
                                      parse_constant=_no_constant))
    except (ValueError, RecursionError):
        return None


def _why(dec, line) -> str:
    try:
        dec.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        return str(e)
    except msgspec.ValidationError:
        pass
    return "not JSON"


# -- keys ----------------------------------------------------------------------------------------
def comp_keys(vals: list, spec: KeySpec, force_norm: bool = False, all_str: bool = False):
    """-> (kind, component list). kind 'str'/'num' = raw values (homogeneous), else 'norm'.
    all_str: the caller knows that every value is a string (no pass over them)."""
    if all_str and vals and not force_norm and spec.mode == "auto":
        return "str", (list(map(fold, vals)) if spec.fold else vals)
    types = set(map(type, vals))
    if not force_norm:
        if types == {str} and spec.mode == "auto":
            return "str", (list(map(fold, vals)) if spec.fold else vals)
        if types and types <= NUMTYPES:
            return "num", vals
    f = key_function(spec)
    if UnsetType in types and spec.missing in ("first", "last"):
        first = spec.missing == "first"
        repl = (R_HIGH,) if first == spec.desc else (R_LOW,)
        return "norm", [repl if v is MISSING else f(v) for v in vals]
    return "norm", list(map(f, vals))


def mixed(specs) -> bool:
    return len({s.desc for s in specs}) > 1


def make_keys(comps: list[list], specs: list[KeySpec], force_norm: bool = False, strs=()):
    """-> (keys, kinds, reverse): one comparable key per line (a tuple for several specs).
    strs: per key, True when every value is known to be a string."""
    kinds, cs = [], []
    mix = mixed(specs)
    strs = tuple(strs) + (False,) * (len(specs) - len(strs))
    for vals, spec, all_str in zip(comps, specs, strs, strict=False):
        kind, c = comp_keys(vals, spec, force_norm, all_str)
        if mix and spec.desc:
            c = list(map(Desc, c))
        kinds.append(kind)
        cs.append(c)
    keys = cs[0] if len(cs) == 1 else list(zip(*cs, strict=False))
    return keys, tuple(kinds), (not mix and specs[0].desc)


def converter(specs: list[KeySpec], have: tuple, want: tuple):
    """A function turning a list of keys of kinds `have` into kinds `want` (None if equal)."""
    if have == want:
        return None
    mix = mixed(specs)
    fs = []
    for spec, h, w in zip(specs, have, want, strict=False):
        if h == w:
            fs.append(None)
            continue
        f = key_function(spec)
        if mix and spec.desc:
            fs.append(lambda d, f=f: Desc(f(d.v)))
        else:
            fs.append(f)
    if len(specs) == 1:
        f0 = fs[0]
        return lambda keys: list(map(f0, keys))
    return lambda keys: [tuple(x if f is None else f(x) for f, x in zip(fs, k, strict=False)) for k in keys]
