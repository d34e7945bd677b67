"""jlsort: reading the inputs, sorting / merging / checking, writing the output."""
from __future__ import annotations

import errno
import os
import stat
import sys

from . import parallel
from .outio import full_flush
from .records import DataError, Extractor, Stats, iter_blocks, make_keys, open_input, show
from .sort import Sorter, TempError, first_disorder, merge_blocks, write_batches

PROG = "jlsort"


class Progress:
    """Line count on stderr when it is a terminal (never otherwise)."""

    def __init__(self):
        try:
            self.on = os.isatty(2)
        except OSError:
            self.on = False
        self.n = 0
        self.shown = 0

    def add(self, n):
        self.n += n
        if self.on and self.n - self.shown >= 200_000:
            self.shown = self.n
            sys.stderr.write(f"\r{PROG}: {self.n:,} lines read")
            sys.stderr.flush()

    def done(self):
        if self.on and self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _err(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)


def _sources(files, rc_holder):
    """(name, stream) for each readable input; unreadable ones reported, rc set to 1."""
    for name in files or ["-"]:
        try:
            f = open_input(name)
        except OSError as e:
            _err(f"{name}: {e.strerror or e}")
            rc_holder[0] = 1
            continue
        yield name, f


def _blocks(name, f, ex, progress, rc_holder, block_bytes=1 << 22, lineno0=0):
    """(lines, comps, linenos) per block of one input (its first line is line lineno0 + 1);
    a read error is reported, rc 1."""
    n = lineno0
    try:
        for lines, data, end in iter_blocks(f, block_bytes, raw=True):
            count = len(lines)
            kept, comps, linenos = ex.block(lines, name, n)
            del data
            n += count
            progress.add(count)
            # bytes of the kept lines: data[:end] is the lines joined by newlines
            yield kept, comps, linenos, n - count, (end + 1 - count if kept is lines else None)
    except OSError as e:
        _err(f"{name}: {e.strerror or e}")
        rc_holder[0] = 1
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def run_sort(args, specs) -> int:
    """The whole run; -> exit status. Everything written to stdout is out on return (a
    non-blocking stdout is waited on: the entry's final flush would fail on it)."""
    rc = _sort(args, specs)
    full_flush(sys.stdout.buffer)
    return rc


def _sort(args, specs) -> int:
    stats = Stats(PROG)
    on_invalid = ("error" if args.strict or args.invalid == "error" else
                  "skip" if args.invalid == "skip" else "keep")
    stats.invalid_words = "kept, sorted as lines without the key"
    ex = Extractor(specs, stats, on_invalid)
    ex.share = False  # the Sorter shares equal key strings itself, when it sorts a list of them
    progress = Progress()
    rc = [0]
    keys_text = ", ".join(f"'{s.text}'" for s in specs)
    try:
        if args.check:
            ok = _check(args, specs, ex, progress, rc)
            progress.done()
            for line in stats.summary(keys_text):
                print(line, file=sys.stderr)
            return rc[0] or (0 if ok else 1)
        out, finish, abort = _output(args.output, args.files)
        try:
            if args.merge:
                _merge_files(args, specs, ex, progress, rc, out,
                             on_invalid == "error" or ex.error_missing)
            else:
                sorter = Sorter(specs, args.capacity, temp_dir(args.temporary_directory))
                sorter.feed_from(ex)
                try:
                    bb = min(1 << 22, max(1 << 16, args.capacity // 16))
                    sources = _sources(args.files, rc)
                    # --parallel N; by default N = the CPUs when the input surely exceeds
                    # the capacity (an external sort: as much CPU time, less wall time), else 1
                    # (in memory, workers would add the writing and merging of their runs)
                    auto = args.parallel is None
                    npar = parallel.default_workers() if auto else args.parallel
                    # the ranges need every file open at once: only for a few files (decided
                    # from stat, before any file is opened)
                    if (npar > 1 and parallel.eligible(args.files)
                            and len(args.files) <= sorter.fan() // 2
                            and not (auto and parallel.total_size(args.files) <= args.capacity)):
                        sources = opened = list(sources)
                        workers = parallel.plan(opened, npar,
                                                min_total=args.capacity if auto else 0)
                        if workers:
                            sources = []
                            try:
                                parallel.generate(workers, sorter, ex, stats, rc, progress, bb, _blocks)
                            finally:
                                for _, f in opened:
                                    f.close()
                    for name, f in sources:
                        for kept, comps, _, _, nbytes in _blocks(name, f, ex, progress, rc, bb):
                            sorter.add(kept, comps, nbytes, ex.last_str)
                    progress.done()
                    write_batches(out, sorter.batches(args.unique), args.unique)
                finally:
                    sorter.close()
            finish()
        except BaseException:
            abort()
            raise
    except DataError as e:
        progress.done()
        _err(str(e))
        return 1
    except TempError as e:
        progress.done()
        _err(str(e))
        return 1
    for line in stats.summary(keys_text):
        print(line, file=sys.stderr)
    return rc[0]


def temp_dir(option):
    """-T DIR, else $TMPDIR (when set and not empty), else /tmp: never another directory behind
    the user's back (a bad one is an error once a temporary file is needed, as in GNU sort)."""
    return option or os.environ.get("TMPDIR") or "/tmp"


def _same_file_as_an_input(st, files) -> bool:
    for name in files or ["-"]:
        try:
            other = os.fstat(0) if name == "-" else os.stat(name)
        except (OSError, ValueError):
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False


class _InPlace:
    """-o FILE written in place, as sort -o: opened (created, truncated) at the first write or at
    the end, so the input has been read; a device, a FIFO, /dev/stdout, /dev/fd/N receive the
    output and are never replaced."""

    def __init__(self, name):
        self.name = name
        self.f = None

    def _open(self):
        if self.f is None:
            try:
                fd = os.open(self.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            except OSError as e:
                raise OSError(e.errno, e.strerror, self.name) from None
            self.f = os.fdopen(fd, "wb", buffering=1 << 20)
        return self.f

    def write(self, data):
        return self._open().write(data)

    def fileno(self):
        return self._open().fileno()

    def finish(self):
        f = self._open()
        full_flush(f)
        self.f = None
        f.close()

    def abort(self):
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass


def _output(path, files):
    """-> (stream, finish, abort). -o FILE that is a regular file and one of the inputs: an
    anonymous file (O_TMPFILE) beside FILE, given a name and renamed over FILE only at the end
    (nothing is left behind if we are killed; on error FILE is untouched). Any other FILE is
    written in place once the input is read (sort -o)."""
    if not path or path == "-":
        return sys.stdout.buffer, (lambda: full_flush(sys.stdout.buffer)), (lambda: None)
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if st is None or not stat.S_ISREG(st.st_mode) or not _same_file_as_an_input(st, files):
        out = _InPlace(path)
        return out, out.finish, out.abort
    name = path
    path = os.path.realpath(path)  # -o through a symlink writes its target, as sort -o does
    d = os.path.dirname(path)
    tmp = None
    try:
        try:
            fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o666)
        except (AttributeError, OSError):
            import tempfile
            fd, tmp = tempfile.mkstemp(prefix=".jlsort.", suffix=".tmp", dir=d)
    except OSError as e:
        raise OSError(e.errno, e.strerror, name) from None
    f = os.fdopen(fd, "wb", buffering=1 << 20)
    state = {"tmp": tmp}

    def finish():
        f.flush()
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.fchmod(f.fileno(), mode)
        if state["tmp"] is None:
            base = f".jlsort.{os.getpid()}.{id(f)}.tmp"
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:  # linkat(AT_SYMLINK_FOLLOW): give the anonymous file a name
                os.link(f"/proc/self/fd/{f.fileno()}", base, dst_dir_fd=dfd, follow_symlinks=True)
            finally:
                os.close(dfd)
            state["tmp"] = os.path.join(d, base)
        f.close()
        os.replace(state["tmp"], path)
        state["tmp"] = None

    def abort():
        try:
            f.close()
        except OSError:
            pass
        if state["tmp"]:
            try:
                os.unlink(state["tmp"])
            except OSError:
                pass

    return f, finish, abort


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def _file_blocks(name, f, ex, specs, progress, rc, strict):
    """Sorted-input blocks (keys, lines) of one file, checking its order."""
    prev = None
    rev = all(s.desc for s in specs)
    for kept, comps, linenos, base, _ in _blocks(name, f, ex, progress, rc):
        if not kept:
            continue
        keys, _, _ = make_keys(comps, specs, force_norm=True)
        chk = ([prev] + keys) if prev is not None else keys
        i = first_disorder(chk, rev, strict)
        if i is not None:
            j = i - 1 if prev is not None else i
            ln = linenos[j] if linenos else base + j + 1
            raise DataError(f"{name}:{ln}: disorder: {show(kept[j])}")
        prev = keys[-1]
        yield keys, kept


def _merge_files(args, specs, ex, progress, rc, out, strict):
    """-m: a k-way merge of the sorted FILEs. At most a fan-in of files is open at once: more
    files are merged in groups into temporary runs first (as sort --batch-size). Under --strict
    the merge goes through runs too, so that a bad line fails before anything is written."""
    rev = all(s.desc for s in specs)
    names = args.files or ["-"]
    sorter = Sorter(specs, args.capacity, temp_dir(args.temporary_directory))
    try:
        fan = sorter.fan()
        if len(names) <= fan and not strict:
            sources = [_file_blocks(n, f, ex, specs, progress, rc, False)
                       for n, f in _sources(names, rc)]
            write_batches(out, merge_blocks(sources, rev), args.unique)
            return
        kinds = ("norm",) * len(specs)
        for i in range(0, len(names), fan):
            sources = [_file_blocks(n, f, ex, specs, progress, rc, False)
                       for n, f in _sources(names[i:i + fan], rc)]
            sorter.runs.append(sorter._write_run(merge_blocks(sources, rev), 0, kinds))
            sorter._cascade()
        progress.done()
        write_batches(out, sorter.batches(True), args.unique)
    finally:
        sorter.close()


def _check(args, specs, ex, progress, rc) -> bool:
    quiet = args.check in ("quiet", "silent")
    for name, f in _sources(args.files, rc):
        try:
            for _ in _file_blocks(name, f, ex, specs, progress, rc, args.unique):
                pass
        except DataError as e:
            if not quiet:
                _err(str(e))
            return False
    return True
