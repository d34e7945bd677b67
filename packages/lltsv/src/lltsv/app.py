"""lltsv's run: every input in order through the engine, the warnings summary at the end.

What goes in: the engine (core.Engine, built from the parsed options), the file names and the
binary streams; what comes out: the records on stdout, `lltsv: FILE: reason` for an unreadable
input (the others are still processed, exit 1), the summary of skipped lines on stderr, and the
exit status. A write error or a closed stdout propagates to the entry template (_entry.run).
"""
from __future__ import annotations

from . import _entry, core, reader

PROG = "lltsv"


def say(stderr, text: str) -> None:
    """One message line on the binary stderr."""
    stderr.write(f"{PROG}: {text}\n".encode("utf-8", "surrogateescape"))
    stderr.flush()


def run(engine, files, stdin, stdout, stderr, header: bytes | None = None) -> int:
    rc = 0
    try:
        if header is not None:
            _entry.write_all(stdout, header)
        for name in files or ["-"]:
            try:
                if name == "-":
                    reader.run(engine, stdin, "-" if files else "(stdin)", stdout)
                else:
                    with open(name, "rb", buffering=0) as f:
                        reader.run(engine, f, name, stdout)
            except reader.ReadError as e:
                say(stderr, f"{name}: {e}")
                rc = 1
            except BrokenPipeError:
                raise
            except OSError as e:   # open() failed (write errors come as _entry.WriteError)
                say(stderr, f"{name}: {e.strerror or e}")
                rc = 1
        stdout.flush()
    except core.StrictError as e:
        _report(engine, stderr)
        say(stderr, str(e))
        return 1
    _report(engine, stderr)
    return rc


def _report(engine, stderr) -> None:
    for line in engine.summary():
        say(stderr, f"warning: {line}")
