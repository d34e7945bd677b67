"""Outputs and the checkpoint that says how far they are durable.

Every page is written whole, under one lock, together with its segment's new position (the
LastEvaluatedKey to continue from). A checkpoint is taken under the same lock: the outputs are
flushed and fsync'ed first, then their sizes and the segments' positions go into a new file that
replaces the old one by rename (fsync'ed, and the directory too). So a checkpoint never covers a
line that is not on disk; a rerun truncates every output to the size the checkpoint recorded
(dropping the lines written after it) and continues each segment from its key: the union of the
outputs holds every item exactly once, whenever the process was killed (kill -9 included).
"""
from __future__ import annotations

import errno
import json
import os
import threading

NAME = "ddb-export.checkpoint.json"


class CheckpointMismatch(Exception):
    """The checkpoint was written for other arguments (a usage error)."""


class CheckpointError(Exception):
    """The outputs no longer match the checkpoint (a runtime failure)."""


def seg_file(n: int, total: int) -> str:
    return f"segment-{n:0{max(5, len(str(total - 1)))}d}.jsonl"


class Segment:
    __slots__ = ("n", "key", "done", "items", "pages", "out")

    def __init__(self, n, out, key=None, done=False):
        self.n, self.out, self.key, self.done = n, out, key, done
        self.items = self.pages = 0


class Output:
    """One output file (or stdout): a binary stream and how many bytes went into it."""

    def __init__(self, name, stream, size=0, durable=True):
        self.name, self.stream, self.size, self.durable = name, stream, size, durable

    def write(self, data: bytes, write_all) -> None:
        write_all(self.stream, data, None if self.name == "-" else self.name)
        self.size += len(data)

    def sync(self, flush) -> None:
        flush(self.stream, None if self.name == "-" else self.name)
        if self.durable:
            try:
                os.fsync(self.stream.fileno())
            except OSError as e:
                if e.errno != errno.EINVAL:      # a special file (/dev/null, a pipe): nothing to sync
                    raise


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class State:
    """The segments, their outputs and (with a checkpoint directory) the checkpoint file."""

    def __init__(self, identity: dict, total: int, stdout, out_file=None, out_dir=None, ckpt_dir=None,
                 write_all=None, flush=None):
        self.identity = identity
        self.lock = threading.Lock()
        self.write_all, self.flush = write_all, flush
        self.ckpt = os.path.join(ckpt_dir, NAME) if ckpt_dir else None
        self.resumed = False
        saved = None
        if self.ckpt:
            os.makedirs(ckpt_dir, exist_ok=True)
            try:
                with open(self.ckpt, "rb") as f:
                    saved = json.load(f)
            except FileNotFoundError:
                saved = None
            except ValueError as e:
                raise CheckpointError(f"{self.ckpt}: not a checkpoint ({e})") from None
            if saved is not None and saved.get("identity") != identity:
                theirs = saved.get("identity", {})
                diff = ", ".join(f"{k} {theirs.get(k)!r} there, {v!r} here" for k, v in identity.items()
                                 if theirs.get(k) != v)
                raise CheckpointMismatch(f"{self.ckpt} is for other arguments ({diff}); rerun with the "
                                         "same ones or give another --checkpoint directory")
        sizes = saved["files"] if saved else {}
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            names = [os.path.join(out_dir, seg_file(n, total)) for n in range(total)]
        elif out_file:
            names = [out_file]
        else:
            names = ["-"]
        self.outputs = []
        for name in names:
            if name == "-":
                self.outputs.append(Output("-", stdout, durable=False))
                continue
            size = sizes.get(name, 0) if saved else 0
            self.outputs.append(Output(name, _open_at(name, size, bool(saved)), size, durable=bool(self.ckpt)))
        segs = saved["segments"] if saved else [{"key": None, "done": False}] * total
        self.segments = [Segment(n, self.outputs[n if out_dir else 0], s["key"], s["done"])
                         for n, s in enumerate(segs)]
        self.resumed = bool(saved)
        self.complete = bool(saved and saved.get("complete"))
        if self.ckpt and not saved:
            self.checkpoint()

    def record(self, seg: Segment, data: bytes, items: int, key) -> None:
        """A page's lines and the segment's new position, together."""
        with self.lock:
            if data:
                seg.out.write(data, self.write_all)
            seg.key = key
            seg.done = key is None
            seg.items += items
            seg.pages += 1

    def checkpoint(self, final=False) -> None:
        with self.lock:
            for o in self.outputs:
                o.sync(self.flush)
            if not self.ckpt:
                return
            done = all(s.done for s in self.segments)
            doc = {"identity": self.identity, "complete": done,
                   "files": {o.name: o.size for o in self.outputs},
                   "segments": [{"key": s.key, "done": s.done} for s in self.segments]}
            tmp = self.ckpt + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.ckpt)
            _fsync_dir(os.path.dirname(self.ckpt) or ".")

    def close(self) -> None:
        for o in self.outputs:
            if o.name != "-":
                o.stream.close()


def _open_at(name: str, size: int, resume: bool):
    """The output opened for appending at `size` (0 and a fresh file when not resuming)."""
    if not resume:
        return open(name, "wb")
    try:
        f = open(name, "r+b")
    except FileNotFoundError:
        if size:
            raise CheckpointError(f"{name}: missing, but the checkpoint says {size} bytes of it are "
                                  "written; remove the checkpoint to start over") from None
        return open(name, "wb")
    have = os.fstat(f.fileno()).st_size
    if have < size:
        f.close()
        raise CheckpointError(f"{name}: {have} bytes, but the checkpoint says {size} are written; "
                              "remove the checkpoint to start over")
    f.truncate(size)
    f.seek(size)
    return f
