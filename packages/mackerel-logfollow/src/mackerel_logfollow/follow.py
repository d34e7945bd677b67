"""Follow a growing, rotating log from a crash-safe position (state) file.

One `Follower` per (state file, log path). Use it as a context manager: it takes an exclusive
flock on `<state>.lock` (so concurrent runs never read a range twice), loads the state, and
`chunks()` yields bytes holding only complete lines (each ending in b"\\n") that were not read
before. Nothing is written until `commit()`: a run that dies before commit leaves the old state
and the next run reads the same range again; `commit()` replaces the state atomically (temp file,
fsync, rename, directory fsync), so a crash at any instant leaves the old or the new state.

File identity is (inode, device) plus a fingerprint (BLAKE2b of the first up to 4 KiB) and the
size seen last time. With those it tells apart:

- appended to                  -> read from the saved position
- rotated (rename + create)    -> finish the old file (found by inode in the log's directory or
                                  by `rotated_glob`, or by fingerprint in a .gz archive), then the
                                  new file from 0
- truncated / copytruncate /   -> finish the copy if one is found by fingerprint, then the file
  truncate-and-regrow             from 0
- inode reused                 -> fingerprint differs: the file from 0
- device renumbered            -> same inode and fingerprint: read on from the saved position
"""
from __future__ import annotations

import errno
import fcntl
import glob
import gzip
import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from mackerel_plugin_helper.state import StateError, clean_stale_temps, load_json, write_atomic

FP_LEN = 4096
DONE_KEEP = 8           # fingerprints of finished files remembered (see _intermediates)
# 256 KiB: a chunk is read, copied and parsed while it is still in the CPU's cache (4 MiB reads
# measured 4-12 % more CPU for the log plugins; 128 KiB to 1 MiB the same: scripts/bench/NOTES.md)
READ_SIZE = 256 << 10
STATE_VERSION = 1


class FollowError(Exception):
    """A log or state file cannot be used (message ready for stderr)."""


@dataclass
class State:
    pos: int = 0
    time: float = 0.0
    inode: int = 0
    dev: int = 0
    size: int = 0
    fp: str = ""
    fp_len: int = 0
    skip: bool = False      # pos is inside an over-long line: drop up to its newline first
    done: list = field(default_factory=list)    # [fp, fp_len] of the last files read to the end

    def to_json(self) -> bytes:
        return json.dumps({"pos": self.pos, "time": self.time, "inode": self.inode, "dev": self.dev,
                           "size": self.size, "fp": self.fp, "fp_len": self.fp_len,
                           "skip": self.skip, "done": self.done, "v": STATE_VERSION},
                          separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> "State":
        return cls.from_dict(json.loads(data))

    @classmethod
    def from_dict(cls, d) -> "State":
        if not isinstance(d, dict) or not isinstance(d.get("pos"), int) or d["pos"] < 0:
            raise ValueError("not a position file")
        return cls(pos=d["pos"], time=float(d.get("time") or 0), inode=int(d.get("inode") or 0),
                   dev=int(d.get("dev") or 0), size=int(d.get("size", d["pos"]) or 0),
                   fp=str(d.get("fp") or ""), fp_len=int(d.get("fp_len") or 0), skip=bool(d.get("skip")),
                   done=[[str(x[0]), int(x[1])] for x in d.get("done") or []
                         if isinstance(x, list) and len(x) == 2][-DONE_KEEP:])


@dataclass
class ReadStats:
    """What one run did, for the stderr summary and metrics."""
    bytes_read: int = 0
    lines_overlong: int = 0
    first_overlong: str = ""
    skipped_bytes: int = 0          # jumped over by the max-read-size guard
    events: list = field(default_factory=list)   # human-readable notes: rotation, truncation...


def fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def load_state(path: str) -> State | None:
    """The saved state; None when missing or empty. A corrupt file raises FollowError."""
    try:
        d = load_json(path)
        return None if d is None else State.from_dict(d)
    except StateError as e:
        if not e.corrupt:
            raise FollowError(str(e)) from None
        why = e.why
    except (ValueError, TypeError) as e:
        why = str(e)
    raise FollowError(f"{path}: corrupt position file ({why}); remove it to start over")


def save_state(path: str, st: State) -> None:
    """Atomic replace (mackerel_plugin_helper.state.write_atomic)."""
    write_atomic(path, st.to_json())


_heap_kept = False


def _keep_heap() -> None:
    """Keep the big read buffers and the parsers' per-chunk objects (megabytes each) on the heap:
    glibc serves such blocks with mmap, or trims the top of the heap after each one, and faults
    them in again on every chunk (a fifth of the CPU of a run in page faults: lltsv measured
    270 000 for 1 M lines; scripts/bench/NOTES.md). No mmap below 64 MiB, no trimming below
    128 MiB, 16 MiB of slack. Once per process; without glibc (no mallopt) nothing happens."""
    global _heap_kept
    if _heap_kept:
        return
    _heap_kept = True
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 << 20)     # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 << 20)    # M_TRIM_THRESHOLD
        libc.mallopt(-2, 16 << 20)     # M_TOP_PAD
    except (OSError, AttributeError, ImportError):
        pass


class _Source:
    """An open file to read from: a plain file or a gzip archive."""

    def __init__(self, path: str, gz: bool = False):
        self.path = path
        self.gz = gz
        self.f = gzip.open(path, "rb") if gz else open(path, "rb")

    def head(self, n: int) -> bytes:
        if self.gz:
            self.f.seek(0)
            return self.f.read(n)
        return os.pread(self.f.fileno(), n, 0)

    def close(self) -> None:
        self.f.close()


def _head_of(path: str, n: int) -> bytes | None:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read(n)
        with open(path, "rb") as f:
            return f.read(n)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None


def _gz_size_at_least(path: str, n: int) -> bool:
    try:
        with gzip.open(path, "rb") as f:
            f.seek(n)
            return f.tell() >= n
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


class Follower:
    """Follow one log through one state file. See the module docstring."""

    def __init__(self, log_path: str, state_path: str, *, first_run: str = "all",
                 max_read_size: int = 0, max_line: int = 1 << 20, rotated_glob: str | None = None,
                 lock_timeout: float = 60.0, read_size: int = READ_SIZE,
                 legacy_state_paths: list[str] | None = None, readonly: bool = False):
        self.log_path = log_path
        self.state_path = state_path
        self.first_run = first_run
        self.max_read_size = max_read_size
        self.max_line = max(1, max_line)
        self.rotated_glob = rotated_glob
        self.lock_timeout = lock_timeout
        self.read_size = read_size
        self.legacy_state_paths = legacy_state_paths or []
        self.readonly = readonly    # --dry-run: nothing is created, removed or saved
        self.stats = ReadStats()
        self.state: State | None = None
        self.now = 0.0
        self._lock_fd: int | None = None
        self._new: State | None = None
        self._cur: _Source | None = None
        self._done: list = []

    # -- locking -------------------------------------------------------------------------------
    def __enter__(self) -> "Follower":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        d = os.path.dirname(os.path.abspath(self.state_path))
        if self.readonly:
            # --dry-run: no work dir, lock file or temp file is created or removed; an existing
            # lock is shared (a real run in progress is waited for, its state then read)
            try:
                self._lock_fd = os.open(self.state_path + ".lock", os.O_RDONLY)
            except OSError:
                self._lock_fd = None
        else:
            try:
                os.makedirs(d, exist_ok=True)
                self._lock_fd = os.open(self.state_path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise FollowError(f"{self.state_path}.lock: {e.strerror}") from None
        deadline = time.monotonic() + self.lock_timeout
        while self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, (fcntl.LOCK_SH if self.readonly else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    self.close()
                    raise FollowError(f"{self.state_path}: locked by another run for "
                                      f"{self.lock_timeout:g} s") from None
                time.sleep(0.05)
        if not self.readonly:
            clean_stale_temps(self.state_path, older_than=0)   # we hold the lock
        try:
            self.state = load_state(self.state_path)
        except FollowError:
            self.close()
            raise
        if self.state is None:
            # upgrading from the upstream plugin: carry on from its position file (read only)
            # only when it names this very file (a shared upstream state may name another log)
            try:
                cur = os.stat(self.log_path)
            except OSError:
                cur = None
            for lp in self.legacy_state_paths:
                try:
                    old = load_state(lp)
                except FollowError:
                    continue
                if (old is not None and cur is not None and (old.inode, old.dev) == (cur.st_ino, cur.st_dev)
                        and old.pos <= cur.st_size):
                    self.state = old
                    self._note(f"continuing from the position file {lp}")
                    break
        self.now = time.time()

    def close(self) -> None:
        if self._cur is not None:
            self._cur.close()
            self._cur = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # releases the flock
            self._lock_fd = None

    @property
    def is_first_run(self) -> bool:
        return self.state is None

    @property
    def duration(self) -> float:
        """Seconds since the saved state was written; 0 on the first run."""
        if self.state is None or self.state.time <= 0:
            return 0.0
        return max(0.0, self.now - self.state.time)

    # -- reading -------------------------------------------------------------------------------
    def _note(self, msg: str) -> None:
        self.stats.events.append(msg)

    def _candidates(self, cur_ino: int, cur_dev: int) -> list[str]:
        d = os.path.dirname(os.path.abspath(self.log_path))
        names: list[str] = []
        try:
            names = [os.path.join(d, n) for n in sorted(os.listdir(d))]
        except OSError:
            pass
        if self.rotated_glob:
            names += sorted(glob.glob(self.rotated_glob))
        out, seen = [], set()
        for p in names:
            try:
                st = os.stat(p)
            except OSError:
                continue
            import stat as _s
            if not _s.S_ISREG(st.st_mode) or (st.st_ino, st.st_dev) == (cur_ino, cur_dev):
                continue
            if (st.st_ino, st.st_dev) in seen or p.endswith((".lock",)) or ".tmp." in p:
                continue
            seen.add((st.st_ino, st.st_dev))
            out.append(p)
        return out

    def _find_old(self, cur_ino: int, cur_dev: int, by_inode: bool) -> tuple[str, bool] | None:
        """The file holding the old content: (path, is_gzip) or None."""
        s = self.state
        assert s is not None
        cands = self._candidates(cur_ino, cur_dev)

        def fp_ok(p: str) -> bool:
            if not s.fp_len:
                return True
            h = _head_of(p, s.fp_len)
            return h is not None and len(h) == s.fp_len and fingerprint(h) == s.fp

        if by_inode:
            for p in cands:
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                if st.st_ino == s.inode and st.st_dev == s.dev and st.st_size >= s.pos and fp_ok(p):
                    return p, False
        # by fingerprint: copytruncate copies, renumbered devices, compressed archives
        if not s.fp_len:
            return None
        best = None
        for p in cands:
            gz = p.endswith(".gz")
            try:
                st = os.stat(p)
            except OSError:
                continue
            if not gz and st.st_size < s.pos:
                continue
            if fp_ok(p) and (gz and _gz_size_at_least(p, s.pos) or not gz):
                if best is None or st.st_mtime > best[2]:
                    best = (p, gz, st.st_mtime)
        return (best[0], best[1]) if best else None

    def _intermediates(self, cur_ino: int, cur_dev: int, old: tuple[str, bool] | None,
                       done: list) -> list[tuple[str, bool]]:
        """Files rotated after the old one and before the current one (two or more rotations
        since the last run), oldest first: rotated names of the log (`NAME.*`, `NAME-*`, or
        --rotated-glob) written since the last run, that are neither the old file nor a file
        already read (fingerprints in `done`). A .gz is taken only when `done` is known: an
        older file compressed since the last run (delaycompress) has a new mtime too."""
        s = self.state
        assert s is not None
        base = os.path.basename(self.log_path)
        globbed = set(glob.glob(self.rotated_glob)) if self.rotated_glob else set()
        out = []
        for p in self._candidates(cur_ino, cur_dev):
            if old is not None and p == old[0]:
                continue
            if not os.path.basename(p).startswith((base + ".", base + "-")) and p not in globbed:
                continue
            try:
                st = os.stat(p)
            except OSError:
                continue
            gz = p.endswith(".gz")
            # the kernel's file times are coarse (a clock tick): a little slack
            if st.st_mtime < s.time - 0.05:
                continue
            if (gz and not done) or (not gz and st.st_size == 0):
                continue
            head = _head_of(p, FP_LEN)
            if not head or any(len(head) >= n and fingerprint(head[:n]) == f for f, n in done):
                continue
            out.append((st.st_mtime, p, gz))
        return [(p, gz) for _, p, gz in sorted(out)]

    def chunks(self):
        """Yield bytes of complete lines not read before (see the module docstring): each
        block of blocks() copied out of the reading buffer."""
        for buf, s, e in self.blocks():
            with memoryview(buf) as mv:
                chunk = bytes(mv[s:e])
            yield chunk

    def blocks(self):
        """Yield (buf, s, e): buf[s:e] holds complete lines not read before, and buf[s - 1] is
        a newline. buf is the follower's reading buffer, reused: the block is valid until the
        next one is asked for, and must neither be changed nor kept (no memoryview of buf
        may outlive the step). For parsers that work on a buffer range without a copy
        (re's pos/endpos, bytes.count's start/end)."""
        try:
            cur = _Source(self.log_path)
            st = os.fstat(cur.f.fileno())
        except OSError as e:
            raise FollowError(f"{self.log_path}: {e.strerror}") from None
        self._cur = cur
        size = st.st_size
        s = self.state
        self._done = list(s.done) if s is not None else []
        start = 0
        skip = False
        if s is None:
            if self.first_run == "skip":
                start, inside = self._last_line_end(cur, size)
                self._note(f"first run: skipped {start} existing bytes")
                self._set_new(cur, st, start, size)
                self._new.skip = inside
                return
        else:
            same = (st.st_ino, st.st_dev) == (s.inode, s.dev) or (s.inode == 0 and s.dev == 0)
            head = cur.head(s.fp_len) if s.fp_len else b""
            fp_same = not s.fp_len or (len(head) == s.fp_len and fingerprint(head) == s.fp)
            if same and size >= s.size and fp_same:
                start = s.pos
                skip = s.skip
            elif not same and st.st_ino == s.inode and fp_same and size >= s.size:
                self._note("device number changed, same file (inode and fingerprint match)")
                start = s.pos
                skip = s.skip
            else:
                if same:
                    self._note("truncated or replaced (size or fingerprint changed)")
                else:
                    self._note("rotated (inode changed)")
                old = self._find_old(st.st_ino, st.st_dev, by_inode=not same)
                if old is not None:
                    self._note(f"finishing old content in {old[0]} from byte {s.pos}")
                    src = _Source(old[0], gz=old[1])
                    try:
                        yield from self._read(src, s.pos, None, final=True, skipping=s.skip)
                    finally:
                        src.close()
                elif s.pos:
                    self._note("old content not found; its unread tail (if any) is lost")
                # several rotations since the last run: the files rotated after the old one
                done = self._done
                if s.fp_len:
                    done.append([s.fp, s.fp_len])
                for path, gz in self._intermediates(st.st_ino, st.st_dev, old, done):
                    self._note(f"reading {path} whole: rotated after the old content")
                    head = _head_of(path, FP_LEN)
                    if head:
                        done.append([fingerprint(head), len(head)])
                    src = _Source(path, gz=gz)
                    try:
                        yield from self._read(src, 0, None, final=True)
                    finally:
                        src.close()
                self._done = done[-DONE_KEEP:]
                start = 0
        end = None
        if self.max_read_size and size - start > self.max_read_size:
            new_start, inside = self._last_line_end(cur, size)
            if new_start > start:
                self.stats.skipped_bytes += new_start - start
                self._note(f"max-read-size: skipped {new_start - start} bytes")
                start = new_start
                skip = inside
        yield from self._read(cur, start, end, final=False, skipping=skip)
        self._set_new(cur, st, self._pos, max(size, self._pos))
        self._new.skip = self._skip_at_end

    def _set_new(self, cur: _Source, st: os.stat_result, pos: int, size: int) -> None:
        n = min(size, FP_LEN)
        head = cur.head(n)
        self._new = State(pos=pos, time=self.now, inode=st.st_ino, dev=st.st_dev, size=size,
                          fp=fingerprint(head) if len(head) == n and n else "", fp_len=len(head) if n else 0,
                          done=list(self._done))

    def _last_line_end(self, src: _Source, size: int) -> tuple[int, bool]:
        """(offset just after the last newline at or before size, False); when the last
        max_line bytes hold no newline: (size, True), the end of an over-long line to skip."""
        lo = max(0, size - self.max_line - 1)
        data = os.pread(src.f.fileno(), size - lo, lo)
        i = data.rfind(b"\n")
        if i >= 0:
            return lo + i + 1, False
        return (size, True) if size - lo > self.max_line else (lo, False)

    def _read(self, src: _Source, start: int, end: int | None, final: bool, skipping: bool = False):
        """Yield (buf, s, e) blocks of complete lines of src from start (see blocks()). final:
        the file is finished, its last unterminated line counts as a line. Sets self._pos to
        the offset after what was consumed.

        One buffer for the whole file, its byte 0 a newline: each read goes (readinto) right
        after the partial line carried from the read before, so a block is never copied, and
        only the carried partial line is moved to the buffer's front. (A fresh 4 MiB object per
        read and a join with the carry cost 0.14 s per 300 MB in page faults and copies:
        scripts/bench/NOTES.md.)"""
        _keep_heap()
        f = src.f
        f.seek(start)
        R = self.read_size
        maxl = self.max_line
        buf = bytearray(1 + R)
        buf[0] = 10            # the newline before every block
        pos = start            # file offset of buf[1]
        c = 0                  # buf[1:1 + c]: the carried partial line (empty while skipping)
        while True:
            if len(buf) < 1 + c + R:
                buf.extend(bytes(1 + c + R - len(buf)))
            with memoryview(buf) as mv:
                n = f.readinto(mv[1 + c:1 + c + R])
            if not n:
                break
            self.stats.bytes_read += n
            e = 1 + c + n
            s = 1              # buf[s:e]: what is not consumed yet
            if skipping:       # inside an over-long line (c == 0): drop until its newline
                i = buf.find(b"\n", 1, e)
                if i < 0:
                    pos += e - 1
                    continue
                s = i + 1
                skipping = False
            i = buf.rfind(b"\n", s, e)
            if i < 0:          # no line ends here: all of it is (more of) a partial line
                if e - s > maxl:
                    self._overlong(src.path, pos + s - 1)
                    skipping = True
                    pos += e - 1
                    c = 0
                else:
                    if s > 1:
                        buf[1:1 + e - s] = buf[s:e]
                    pos += s - 1
                    c = e - s
                continue
            yield from self._split_overlong(buf, s, i + 1, src.path, pos + s - 1)
            pos += i           # the offset of buf[i + 1], which moves to buf[1]
            c = e - i - 1
            if c > maxl:
                self._overlong(src.path, pos)
                skipping = True
                pos += c
                c = 0
            elif c:
                buf[1:1 + c] = buf[i + 1:e]
        if final:
            if c:
                pos += c
                buf[1 + c] = 10
                yield buf, 1, 2 + c
            skipping = False
        # not final and skipping: an over-long line still being written; the state remembers to
        # drop the rest of it up to its newline next time
        self._skip_at_end = skipping
        self._pos = pos

    def _overlong(self, path: str, offset: int) -> None:
        self.stats.lines_overlong += 1
        if not self.stats.first_overlong:
            self.stats.first_overlong = f"{path}: line at byte {offset} longer than {self.max_line} bytes"

    def _split_overlong(self, buf: bytearray, a: int, b: int, path: str, base: int):
        """buf[a:b] ends with a newline (base: the file offset of buf[a]); yield its ranges
        without the lines longer than max_line (bulk check per window)."""
        maxl = self.max_line
        if b - a <= maxl + 1:
            yield buf, a, b
            return
        p = a
        seg = a
        while p < b:
            q = buf.rfind(b"\n", p, min(b, p + maxl + 1))
            if q >= 0:
                p = q + 1
                continue
            # line starting at p is longer than max_line
            e = buf.find(b"\n", p, b)
            if p > seg:
                yield buf, seg, p
            self._overlong(path, base + p - a)
            p = e + 1
            seg = p
        if seg < b:
            yield buf, seg, b

    def commit(self) -> None:
        """Save the new position (atomic). Call after the results were written out. A readonly
        follower (--dry-run) saves nothing."""
        if self._new is None or self.readonly:
            return
        try:
            save_state(self.state_path, self._new)
        except OSError as e:
            raise FollowError(f"{self.state_path}: {e.strerror}") from None
