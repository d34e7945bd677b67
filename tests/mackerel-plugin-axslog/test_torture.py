"""Torture run against real files: appends, partial lines, rotations (rename + create, with and
without delaycompress), truncate, copytruncate, regrow, over-long lines, two concurrent runs and
runs killed with SIGKILL at random points. The sum of the counted lines equals the lines written,
exactly."""
from __future__ import annotations

import gzip
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

EXE = str(pathlib.Path(sys.executable).parent / "mackerel-plugin-axslog")


class World:
    def __init__(self, tmp: pathlib.Path, seed: int):
        self.dir = tmp / "logs"
        self.dir.mkdir()
        self.wd = tmp / "work"
        self.wd.mkdir()
        self.log = self.dir / "access.log"
        self.log.write_bytes(b"")
        self.rnd = random.Random(seed)
        self.n = 0            # lines written
        self.counted = 0      # lines the plugin reported
        self.overlong = 0
        self.partial = b""    # second half of a line whose first half is in the log

    def line(self) -> bytes:
        self.n += 1
        st = self.rnd.choice([200, 200, 200, 301, 404, 499, 500])
        return f"time:{self.n}\tstatus:{st}\tptime:{self.rnd.randint(1, 500) / 1000:.3f}\tn:{self.n}\n".encode()

    def append(self, k: int) -> None:
        data = self.partial + b"".join(self.line() for _ in range(k))
        self.partial = b""
        if self.rnd.random() < 0.1:          # an over-long line: skipped, counted as an error
            data += b"status:200\tptime:1\tjunk:" + b"j" * 3000 + b"\n"
            self.overlong += 1
        if self.rnd.random() < 0.3:          # leave half a line for later
            ln = self.line()
            cut = self.rnd.randint(1, len(ln) - 1)
            data += ln[:cut]
            self.partial = ln[cut:]
        with open(self.log, "ab") as f:
            f.write(data)

    def finish_partial(self) -> None:
        if self.partial:
            with open(self.log, "ab") as f:
                f.write(self.partial)
            self.partial = b""

    def shift(self) -> None:
        for p in sorted(self.dir.glob("access.log.*"), key=lambda p: -int(p.name.split(".")[2])):
            i = int(p.name.split(".")[2])
            rest = ".".join(p.name.split(".")[3:])
            p.rename(self.dir / (f"access.log.{i + 1}" + (f".{rest}" if rest else "")))
        # delaycompress: the previous .1 (now .2) gets compressed one rotation later
        two = self.dir / "access.log.2"
        if two.exists():
            with open(two, "rb") as src, gzip.open(str(two) + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            two.unlink()

    def rotate(self, compress_now: bool) -> None:
        self.finish_partial()
        self.shift()
        self.log.rename(self.dir / "access.log.1")
        if compress_now:
            one = self.dir / "access.log.1"
            with open(one, "rb") as src, gzip.open(str(one) + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            one.unlink()
        self.log.write_bytes(b"")

    def copytruncate(self) -> None:
        self.finish_partial()
        self.shift()
        shutil.copyfile(self.log, self.dir / "access.log.1")
        with open(self.log, "r+b") as f:
            f.truncate(0)

    def truncate_after_run(self) -> None:
        self.finish_partial()
        self.run()
        with open(self.log, "r+b") as f:
            f.truncate(0)

    def state(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.wd.glob("*.json")))

    def cmd(self):
        return [EXE, "--logfile", str(self.log), "--key-prefix", "t", "--count-mode", "raw",
                "--max-line", "1000", "-q"]

    def env(self):
        return {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(self.wd)}

    def take(self, out: bytes) -> None:
        for line in out.decode().splitlines():
            name, value, _ = line.split("\t")
            if name == "axslog.access_total_t.count":
                self.counted += int(float(value))

    def run(self) -> None:
        r = subprocess.run(self.cmd(), capture_output=True, env=self.env(), timeout=60)
        assert r.returncode == 0, r.stderr
        self.take(r.stdout)

    def run_killed(self) -> None:
        before = self.state()
        p = subprocess.Popen(self.cmd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())
        time.sleep(self.rnd.uniform(0.0, 0.4))
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate(timeout=60)
        if p.returncode == 0 or self.state() != before:
            # the run got as far as replacing the state: its output was complete before that
            self.take(out)

    def run_two(self) -> None:
        ps = [subprocess.Popen(self.cmd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())
              for _ in range(2)]
        for p in ps:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            self.take(out)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_line_counted_exactly_once(tmp_path, seed):
    w = World(tmp_path, seed)
    w.run()                                   # first run on the empty log: the state exists
    for _ in range(20):
        op = w.rnd.choice(["append", "append", "rotate", "rotate_gz", "copytruncate", "truncate"])
        if op == "append":
            w.append(w.rnd.randint(1, 400))
        elif op == "rotate":
            w.append(w.rnd.randint(1, 50))
            w.rotate(compress_now=False)
            w.append(w.rnd.randint(0, 50))
        elif op == "rotate_gz":
            w.append(w.rnd.randint(1, 50))
            w.rotate(compress_now=True)
            w.append(w.rnd.randint(0, 50))
        elif op == "copytruncate":
            w.append(w.rnd.randint(1, 50))
            w.copytruncate()
            w.append(w.rnd.randint(0, 80))      # regrow, maybe past the old position
        else:
            w.truncate_after_run()
            w.append(w.rnd.randint(1, 80))
        how = w.rnd.choice(["run", "run", "killed", "killed", "two"])
        {"run": w.run, "killed": w.run_killed, "two": w.run_two}[how]()
        if how == "killed":
            w.run()                             # at most one rotation between completed runs
    w.finish_partial()
    w.run()
    assert w.counted == w.n
    assert w.n > 500
