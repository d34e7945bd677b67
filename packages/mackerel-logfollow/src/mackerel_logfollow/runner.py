"""Entry-point plumbing shared by the plugins: exit codes, broken pipes, signals, state names."""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


class ArgParser(argparse.ArgumentParser):
    """argparse whose flag errors (unknown or missing options, unusable values) print
    `prog: message` on stderr and exit 3, Nagios UNKNOWN, as the 2026 upstream plugins do."""

    def error(self, message):  # noqa: D401
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNKNOWN, f"{self.prog}: {message}\n")

    value_error = error

    def sizes(self, *texts: str) -> list[int]:
        """Size flag values (`--max-read-size`, `--max-line`) as byte counts; an unusable one is
        a flag error."""
        from .sizes import parse_size

        try:
            return [parse_size(t) for t in texts]
        except ValueError as e:
            self.value_error(str(e))


def go_style(*names: str) -> list[str]:
    """'--logfile' -> ['--logfile', '-logfile']: Go's flag package accepts both spellings."""
    out = []
    for n in names:
        out.append(n)
        if n.startswith("--"):
            out.append(n[1:])
    return out


def state_key(*parts: str) -> str:
    """A short stable hash of the canonical paths a state belongs to."""
    return hashlib.md5("\0".join(parts).encode()).hexdigest()


def canonical(path: str) -> str:
    return os.path.realpath(path)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(main_func, argv=None) -> int:
    """Run main_func(argv) with the suite's exit conventions: SIGTERM like Ctrl-C (130, after the
    `finally` blocks ran: locks released, temp files removed, state untouched), a closed stdout
    gives 141 without a message."""
    try:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    except (ValueError, OSError):
        pass
    try:
        rc = main_func(argv)
        sys.stdout.flush()
        return rc
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


class deferred_signals:
    """Hold SIGINT/SIGTERM while the results are written and the position is saved: that unit
    of work is finished whole (a signal arriving meanwhile is delivered right after)."""

    SIGS = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self):
        try:
            self.old = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGS)
        except (AttributeError, OSError, ValueError):
            self.old = None
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.old)
        return False
