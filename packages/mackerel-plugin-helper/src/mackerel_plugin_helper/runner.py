"""The plugin runner: the exit-code policy, graph definitions on request, and output that is
delivered before the state moves.

    from mackerel_plugin_helper import runner
    from myplugin import _entry

    def main(argv=None):
        return runner.run(_entry, PROG, lambda: build_parser().parse_args(argv), collect, graphs)

run() is the plugin's own _entry.run with the MACKEREL policy: 0 OK, 2 runtime failure or write
error (CRITICAL, one `prog: write error: why` line, never a traceback), 3 usage error (UNKNOWN),
130 SIGINT, 143 SIGTERM, 141 closed stdout (silent). publish() writes the metrics and flushes
them, and only then commits the new state (the log position, the counters), with SIGINT and
SIGTERM held meanwhile: a full disk or a closed stdout leaves the state unmoved, and a signal
never cuts that unit of work in two.
"""
from __future__ import annotations

import signal
import sys

from .graphs import meta_requested, render_graphdef
from .metrics import Metrics

_dry_run = False        # set by run() from args.dry_run (add_dry_run): publish() commits nothing


def add_dry_run(ap) -> None:
    """--dry-run (alias --no-state) of every plugin: print the metrics of a normal run, save
    nothing (the log position, the counters and the work dir stay as they are), to try a
    configuration beside mackerel-agent."""
    ap.add_argument("--dry-run", "--no-state", dest="dry_run", action="store_true",
                    help="print the metrics but save no state: the position (or the counters) "
                         "stays where it is and nothing is written in the work dir")


def dry_run() -> bool:
    """True inside a run() whose arguments asked for --dry-run / --no-state."""
    return _dry_run


class deferred_signals:
    """Hold SIGINT/SIGTERM while the results are written and the state saved: that unit of
    work is finished whole (a signal arriving meanwhile is delivered right after)."""

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


def say(text: str) -> None:
    """One diagnostic line on stderr (the run's stderr: a test's capture included)."""
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def publish(prog: str, out, payload, commit=None) -> None:
    """Write payload (Metrics or bytes) to the binary stream out and flush it; then, only when
    that succeeded, call commit() (save the state). A write error or a closed pipe propagates
    (the runner reports it) and commit() is never called; nor is it with --dry-run."""
    if isinstance(payload, Metrics):
        note = payload.note(prog)
        if note:
            say(note)
        payload = payload.render()
    with deferred_signals():
        if payload:
            out.write(payload)
        out.flush()
        if commit is not None and not _dry_run:
            commit()


def run(entry, prog: str, parse, collect, graphs=None, *, stdout=None, stderr=None) -> int:
    """Run a plugin under its own _entry module's run() with the MACKEREL policy, as
    go-mackerel-plugin-helper runs a plugin's GraphDefinition and FetchMetrics.

    parse() parses and validates the command line (a usage error exits 3 through the plugin's
    _entry.ArgumentParser) and returns args; collect(args, out) does the work, publishes its
    output and returns the exit code (out: the binary stdout); graphs(args) gives the graph
    definitions (a dict, or None when the plugin prints none in this mode), printed instead of
    collect() when MACKEREL_AGENT_PLUGIN_META is set. Parsing runs inside, so that Ctrl-C at
    any moment is 130 without a traceback. When args.dry_run is true (add_dry_run), publish()
    never calls commit() and dry_run() tells the plugin not to write anything else."""
    def body() -> int:
        global _dry_run
        _dry_run = False
        args = parse()
        _dry_run = bool(getattr(args, "dry_run", False))
        out = stdout if stdout is not None else sys.stdout.buffer
        if graphs is not None and meta_requested():
            g = graphs(args)
            if g is not None:
                publish(prog, out, render_graphdef(g))
                return 0
        return collect(args, out)

    global _dry_run
    try:
        return entry.run(prog, body, policy=entry.MACKEREL, stdout=stdout, stderr=stderr)
    finally:
        _dry_run = False
