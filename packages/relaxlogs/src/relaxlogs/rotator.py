"""The log files: naming, rotation by time/size/signal, the link, cleanup, compression, hooks.

State kept here: the open file (path, fd, size), its period name and generation, the job queue
of the background worker (compress and/or post-rotate hook of rotated files). Nothing is kept on
disk besides the logs and the link, so a kill -9 leaves at most a `*.gz.tmp` being written.

Names: the pattern (strftime) is formatted with the start of the current period, in wall-clock
time of the zone, periods counted like file-rotatelogs v2.4.0 (from 0001-01-01, so periods that
divide a day start at midnight). A size or forced rotation inside one period appends ".1", ".2"...
"""
import errno
import glob
import os
import re
import stat
import sys
import time

from .timefmt import Zone

GO_ZERO = 62135596800   # seconds from 0001-01-01T00:00:00Z to the Unix epoch


class WriteFailed(Exception):
    def __init__(self, path: str, err: OSError, remaining: bytes):
        super().__init__(f"{path}: {err.strerror}")
        self.path = path
        self.err = err
        self.remaining = remaining


def pattern_glob(pattern: str) -> str:
    """The glob of the files a pattern makes: each %X (an optional flag among -_0^# and a
    letter) becomes *, %% becomes %, the rest is matched literally (glob.escape)."""
    parts = re.split(r"(%[-_0^#]?[A-Za-z%])", pattern)
    out = [("%" if p == "%%" else "*") if i % 2 else glob.escape(p) for i, p in enumerate(parts)]
    return re.sub(r"\*+", "*", "".join(out))


class Rotator:
    def __init__(self, logdir: str, pattern: str = "log.%Y%m%d%H%M", period: int = 3600,
                 max_age: float = 86400, keep: int = 0, max_size: int = 0,
                 link: str | None = "current", compress: str | None = None,
                 post_rotate: str | None = None, fsync: str = "none", zone: Zone | None = None,
                 clock=time.time, err=None):
        self.logdir = os.path.abspath(logdir)
        self.pattern = pattern if os.path.isabs(pattern) else os.path.join(self.logdir, pattern)
        self.glob = pattern_glob(self.pattern)
        self.period = max(0, int(period))
        self.max_age = max_age
        self.keep = keep
        self.max_size = max_size
        self.link = None if not link else (link if os.path.isabs(link) else os.path.join(self.logdir, link))
        self.compress = compress
        self.post_rotate = post_rotate
        self.fsync = fsync
        self.zone = zone or Zone("local")
        self.clock = clock
        self.err = err if err is not None else sys.stderr
        self.fd: int | None = None
        self.path: str | None = None
        self.base: str | None = None
        self.gen = 0
        self.size = 0
        self.dirty = False
        self.last_sync = 0.0
        self.opened_once = False
        self.failures = 0
        self.hook_quiet = False  # stderr is closed: the hook's output goes to /dev/null
        self.files = 0           # files opened by this run (status)
        self.vanished = 0        # times the open file was found gone from its name (status)
        self.busy: set[str] = set()
        self._jobs = None
        self._worker = None
        self._link_warned = False
        self._name_sec: int | None = None
        self._name = ""

    # -- names ------------------------------------------------------------------------------
    def base_name(self, t: float) -> str:
        sec = int(t // 1)
        if sec == self._name_sec:    # checked at every write: one strftime a second at most
            return self._name
        wall = sec + self.zone.offset(sec)
        if self.period > 0:
            wall = (wall + GO_ZERO) // self.period * self.period - GO_ZERO
        self._name = time.strftime(self.pattern, time.gmtime(wall))
        self._name_sec = sec
        return self._name

    @staticmethod
    def gen_path(base: str, gen: int) -> str:
        return base if gen == 0 else f"{base}.{gen}"

    def _exists(self, path: str) -> bool:
        return os.path.lexists(path) or os.path.lexists(path + ".gz")

    def _last_gen(self, base: str) -> int:
        g = 0
        while self._exists(self.gen_path(base, g + 1)):
            g += 1
        if not os.path.lexists(self.gen_path(base, g)) and self._exists(self.gen_path(base, g)):
            g += 1   # only its compressed copy is left: never write next to it
        return g

    def _next_gen(self, base: str, gen: int) -> int:
        g = gen + 1
        while self._exists(self.gen_path(base, g)):
            g += 1
        return g

    # -- writing ----------------------------------------------------------------------------
    def write(self, data) -> None:
        """Append complete lines (bytes, or a list of bytes-like pieces written with writev).
        On failure raises WriteFailed with the part not written."""
        if isinstance(data, list):
            if self.max_size > 0 or len(data) == 1 or len(data) > 512:
                data = data[0] if len(data) == 1 else b"".join(data)
        if not data:
            return
        now = self.clock()
        try:
            self._check_time(now)
            if self.fd is None:
                self._open(self.base or self.base_name(now), self.gen, first=self.base is None)
        except OSError as e:
            raise WriteFailed(self.path or e.filename or self.base_name(now), e,
                              b"".join(data) if isinstance(data, list) else bytes(data)) from None
        if self.max_size <= 0:
            self._raw_write(data)
        else:
            view = memoryview(data)
            while view:
                room = self.max_size - self.size
                if len(view) <= room:
                    self._raw_write(view)
                    break
                cut = bytes(view[:max(room, 0)]).rfind(b"\n") + 1 if room > 0 else 0
                if cut == 0:
                    if self.size > 0:
                        self._rotate_gen(view)
                        continue
                    nl = bytes(view).find(b"\n")   # one line longer than max-size: whole, alone
                    cut = nl + 1 if nl >= 0 else len(view)
                self._raw_write(view[:cut])
                view = view[cut:]
                if view:
                    self._rotate_gen(view)
        if self.fsync == "line":
            self._sync()

    def _rotate_gen(self, pending) -> None:
        try:
            self._rotate(self.base, self._next_gen(self.base, self.gen))
        except OSError as e:
            raise WriteFailed(self.path, e, bytes(pending)) from None

    def _raw_write(self, data) -> None:
        if isinstance(data, list):
            return self._raw_writev(data)
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as e:
                self._drop_fd()
                raise WriteFailed(self.path, e, bytes(view)) from None
            view = view[n:]
            self.size += n
        self.dirty = True

    def _raw_writev(self, pieces: list) -> None:
        pieces = list(pieces)
        while pieces:
            try:
                n = os.writev(self.fd, pieces)
            except OSError as e:
                self._drop_fd()
                raise WriteFailed(self.path, e, b"".join(pieces)) from None
            self.size += n
            while pieces and n >= len(pieces[0]):
                n -= len(pieces[0])
                pieces.pop(0)
            if n:
                pieces[0] = memoryview(pieces[0])[n:]
        self.dirty = True

    def _drop_fd(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def _sync(self) -> None:
        if self.fd is not None and self.dirty:
            try:
                os.fsync(self.fd)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.EROFS):
                    self._msg(f"{self.path}: fsync: {e.strerror}")
            self.dirty = False
            self.last_sync = time.monotonic()

    # -- rotation ---------------------------------------------------------------------------
    def _check_time(self, now: float) -> None:
        if self.base is None:
            return
        base = self.base_name(now)
        if base != self.base:
            self._rotate(base, self._last_gen(base))

    def _open(self, base: str, gen: int, first: bool = False) -> None:
        if first:
            gen = self._last_gen(base)
        path = self.gen_path(base, gen)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.fd, self.path, self.base, self.gen = fd, path, base, gen
        self.size = os.fstat(fd).st_size
        self.opened_once = True
        self.files += 1
        self._update_link()
        if first:
            self._recover()
            self.cleanup()

    def _recover(self) -> None:
        """After a kill -9 during compression: remove the partial NAME.gz.tmp (NAME is still
        there, it is removed only after the rename) and compress NAME again if asked to."""
        for tmp in set(glob.glob(self.glob + ".gz.tmp")) | set(glob.glob(self.glob + ".*.gz.tmp")):
            try:
                os.unlink(tmp)
            except OSError:
                continue
            orig = tmp[: -len(".gz.tmp")]
            if self.compress and orig != self.path and os.path.isfile(orig):
                self._submit(orig, self.path, hook=False)

    def _rotate(self, base: str, gen: int) -> None:
        old = self.path
        if self.fd is not None:
            if self.fsync != "none":
                self._sync()
            self._drop_fd()
        self.path = None
        self._open(base, gen)
        if old and old != self.path:
            if self.compress or self.post_rotate:
                self._submit(old, self.path)
        self.cleanup()

    def rotate_now(self) -> None:
        """SIGALRM: start the next generation of the current period (if a file is open)."""
        if self.base is None:
            return
        base = self.base_name(self.clock())
        if base != self.base:
            self._rotate(base, self._last_gen(base))
        else:
            self._rotate(base, self._next_gen(base, self.gen))

    def reopen(self) -> None:
        """SIGHUP: close and open the file again (it may have been moved away)."""
        if self.base is None:
            return
        if self.fd is not None:
            if self.fsync != "none":
                self._sync()
            self._drop_fd()
        self._open(self.base, self.gen)

    def tick(self) -> None:
        """Timer: rotate (and clean up) at a period boundary even with no input; a file removed
        from under us is recreated; interval fsync."""
        self.check_present()
        if self.base is not None:
            base = self.base_name(self.clock())
            if base != self.base:
                self._rotate(base, self._last_gen(base))
        if self.fsync == "interval" and self.dirty and time.monotonic() - self.last_sync >= 1.0:
            self._sync()

    def check_present(self) -> bool:
        """The open file must still be at its name: `rm DIR/log.*` (link count 0), `rm -rf DIR`,
        a move of the file or of DIR (the name is gone or is another file). Otherwise lines would
        go to a file nobody can see until the next period: say so once for this file and open
        it again at its name (directories and link recreated). True when it was recreated."""
        if self.fd is None or self.path is None:
            return False
        try:
            st = os.fstat(self.fd)
            try:
                pst = os.stat(self.path)
            except (FileNotFoundError, NotADirectoryError):
                pst = None
        except OSError:
            return False
        if st.st_nlink > 0 and pst is not None and (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino):
            return False
        self.vanished += 1
        self._msg(f"{self.path}: {'removed' if st.st_nlink == 0 else 'moved or replaced'} while "
                  "being written (the file or its directory); writing to a new file at its name")
        self.reopen()
        return True

    def _update_link(self) -> None:
        if not self.link or not self.path:
            return
        tmp = self.link + "_symlink"
        try:
            target = os.path.relpath(self.path, os.path.dirname(self.link))
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(target, tmp)
            try:
                os.replace(tmp, self.link)
            except OSError:
                os.unlink(tmp)  # leave no stray NAME_symlink behind
                raise
        except OSError as e:
            if not self._link_warned:
                self._link_warned = True
                self._msg(f"{self.link}: cannot update the link: {e.strerror}")

    # -- cleanup ----------------------------------------------------------------------------
    def cleanup(self) -> None:
        if not self.max_age and not self.keep:
            return
        files = set(glob.glob(self.glob)) | set(glob.glob(self.glob + ".*"))
        cand = []
        for f in files:
            if (f == self.path or f == self.link or f in self.busy
                    or f.endswith(("_lock", "_symlink", ".tmp"))):
                continue
            try:
                st = os.lstat(f)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                cand.append((st.st_mtime, f))
        doomed = set()
        if self.max_age:
            cutoff = self.clock() - self.max_age
            doomed |= {f for m, f in cand if m < cutoff}
        if self.keep:
            rest = sorted(((m, f) for m, f in cand if f not in doomed), reverse=True)
            doomed |= {f for _, f in rest[max(self.keep - 1, 0):]}
        for f in sorted(doomed):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
            except OSError as e:
                self._msg(f"{f}: cannot remove: {e.strerror}")

    # -- background jobs --------------------------------------------------------------------
    def _submit(self, old: str, new: str, hook: bool = True) -> None:
        if self._jobs is None:
            import queue
            import threading
            self._jobs = queue.Queue()
            self._worker = threading.Thread(target=self._work, name="relaxlogs-post", daemon=True)
            self._worker.start()
        self.busy.add(old)
        self._jobs.put((old, new, hook))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                self._jobs.task_done()
                return
            old, new, hook = job
            try:
                final = old
                if self.compress == "gzip":
                    final = self._gzip(old)
                if self.post_rotate and final and hook:
                    import subprocess
                    # its output goes to our stderr: stdout may carry the data (--tee)
                    r = subprocess.run(["/bin/sh", "-c", self.post_rotate + ' "$@"', "sh", final, new],
                                       stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL if self.hook_quiet else 2)
                    if r.returncode != 0:
                        self.failures += 1
                        self._msg(f"post-rotate command failed (exit {r.returncode}) for {final}")
            except Exception as e:  # report, never kill the writer
                self.failures += 1
                self._msg(f"{old}: {e}")
            finally:
                self.busy.discard(old)
                self._jobs.task_done()

    def _gzip(self, path: str) -> str | None:
        import gzip
        import shutil
        tmp = path + ".gz.tmp"
        try:
            st = os.stat(path)
            with open(path, "rb") as src, open(tmp, "wb") as raw:
                with gzip.GzipFile(filename=os.path.basename(path), mode="wb", fileobj=raw,
                                   compresslevel=6, mtime=int(st.st_mtime)) as gz:
                    shutil.copyfileobj(src, gz, 1 << 20)
                raw.flush()
                os.fsync(raw.fileno())
            os.utime(tmp, (st.st_atime, st.st_mtime))
            os.replace(tmp, path + ".gz")
            os.unlink(path)
            return path + ".gz"
        except OSError as e:
            self.failures += 1
            self._msg(f"{path}: compression failed: {e.strerror}")
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return None

    def close(self) -> None:
        """Final: fsync if asked, close, finish every background job, clean up once more."""
        if self.fd is not None:
            if self.fsync != "none":
                self._sync()
            self._drop_fd()
        if self._jobs is not None:
            self._jobs.put(None)
            self._worker.join()
            self._jobs = None
        if self.opened_once:
            self.cleanup()

    def _msg(self, text: str) -> None:
        try:
            self.err.write(f"relaxlogs: {text}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass
