"""Record streams shared by jljoin and jluniq: (key, value, line, lineno) per good line."""
from __future__ import annotations

import sys

from .records import MISSING, DataError, Extractor, Stats, iter_blocks, open_input


def make_extractor(spec, prog, strict, invalid, allow_no_key, null_words):
    """Lines without the key, and lines that are not JSON (which have no key either), are
    skipped, or taken as null with --allow-no-key; --strict makes them fatal. null_words: what
    the tool does with a null key ("counted as null"), for the summary on stderr."""
    stats = Stats(prog)
    on_invalid = ("error" if strict or invalid == "error" else
                  "skip" if invalid == "skip" else "keep")
    if allow_no_key:
        stats.invalid_words = stats.missing_words = null_words
    else:
        spec.missing = "error" if strict else "skip"
    return Extractor([spec], stats, on_invalid), stats


def records(name, f, ex, keyfn, allow_no_key, prog, rc):
    """Yield (key, value, line, lineno) for the lines of one opened input."""
    n = 0
    try:
        for lines in iter_blocks(f):
            kept, comps, linenos = ex.block(lines, name, n)
            vals = comps[0]
            if allow_no_key:
                vals = [None if v is MISSING else v for v in vals]
            keys = list(map(keyfn, vals))
            if linenos is None:
                linenos = range(n + 1, n + 1 + len(kept))
            n += len(lines)
            yield from zip(keys, vals, kept, linenos, strict=False)
    except OSError as e:
        print(f"{prog}: {name}: {e.strerror or e}", file=sys.stderr)
        rc[0] = 1
    finally:
        if f is not sys.stdin.buffer:
            f.close()


_BOM = b"\xef\xbb\xbf"


def bare(line: bytes) -> bytes:
    """A line as an element of the `[line1,line2]` array: surrounding white space and a leading
    BOM (which jq, and we, ignore in a line, but which is not JSON inside an array) removed."""
    line = line.strip()
    return line[3:].strip() if line.startswith(_BOM) else line


_enc = None


def encode(v) -> bytes:
    """Compact JSON with sorted object members; numbers keep their input text."""
    global _enc
    if _enc is None:
        import msgspec
        _enc = msgspec.json.Encoder(decimal_format="number", order="sorted")
    return _enc.encode(v)


def open_or_report(name, prog, rc):
    try:
        return open_input(name)
    except OSError as e:
        print(f"{prog}: {name}: {e.strerror or e}", file=sys.stderr)
        rc[0] = 1
        return None


__all__ = ["DataError", "make_extractor", "records", "encode", "bare", "open_or_report"]
