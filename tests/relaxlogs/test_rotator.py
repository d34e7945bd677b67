"""The Rotator with a controllable clock: names, boundaries, size, cleanup, compression, hooks."""
import calendar
import gzip
import io
import os
import time

import pytest
from relaxlogs.rotator import Rotator, WriteFailed, pattern_glob
from relaxlogs.timefmt import Zone


def utc(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%d %H:%M:%S"))


class Clock:
    def __init__(self, t):
        self.t = float(t)

    def __call__(self):
        return self.t


def mk(tmp_path, clock, **kw):
    kw.setdefault("zone", Zone("UTC"))
    kw.setdefault("max_age", 0)
    return Rotator(str(tmp_path), clock=clock, err=io.StringIO(), **kw)


def files(d):
    return sorted(p.name for p in d.iterdir())


def test_hourly_names_and_boundary(tmp_path):
    c = Clock(utc("2026-11-21 23:59:58"))
    r = mk(tmp_path, c)
    r.write(b"a\n")
    c.t += 3           # crosses midnight
    r.write(b"b\n")
    r.close()
    assert files(tmp_path) == ["current", "log.202611212300", "log.202611220000"]
    assert (tmp_path / "log.202611212300").read_bytes() == b"a\n"
    assert (tmp_path / "log.202611220000").read_bytes() == b"b\n"
    assert os.readlink(tmp_path / "current") == "log.202611220000"    # relative


def test_period_zero_is_per_minute_with_default_pattern(tmp_path):
    c = Clock(utc("2026-11-22 10:07:30"))
    r = mk(tmp_path, c, period=0)
    r.write(b"a\n")
    c.t += 40
    r.write(b"b\n")
    r.close()
    assert files(tmp_path) == ["current", "log.202611221007", "log.202611221008"]


def test_daily_period_starts_at_midnight_of_the_zone(tmp_path):
    c = Clock(utc("2026-11-22 14:59:00"))      # 23:59 in Tokyo
    r = mk(tmp_path, c, period=86400, zone=Zone("Asia/Tokyo"))
    r.write(b"a\n")
    c.t += 120                                   # 00:01 next day in Tokyo
    r.write(b"b\n")
    r.close()
    assert files(tmp_path) == ["current", "log.202611220000", "log.202611230000"]


def test_periods_not_dividing_a_day_count_from_year_one(tmp_path):
    # like file-rotatelogs v2.4.0: 7-minute periods are aligned on 0001-01-01, not on the hour
    t = utc("2026-11-22 10:00:00")
    r = mk(tmp_path, Clock(t), period=420)
    start = (t + 62135596800) // 420 * 420 - 62135596800
    assert r.base_name(t).endswith(time.strftime("log.%Y%m%d%H%M", time.gmtime(start)))


def test_timer_rotates_without_input_and_cleans(tmp_path):
    c = Clock(utc("2026-11-22 10:59:59"))
    old = tmp_path / "log.202611200000"
    old.write_bytes(b"old\n")
    os.utime(old, (c.t - 3 * 86400, c.t - 3 * 86400))
    r = mk(tmp_path, c, max_age=86400)
    r.write(b"a\n")
    assert not old.exists()
    c.t += 2
    r.tick()                       # no write: the timer opens the new period's file
    assert os.readlink(tmp_path / "current") == "log.202611221100"
    assert (tmp_path / "log.202611221100").read_bytes() == b""
    r.close()


def test_max_age_zero_keeps_forever(tmp_path):
    c = Clock(utc("2026-11-22 10:00:00"))
    for name, days in (("log.202611100000", 12), ("log.202611200000", 2)):
        p = tmp_path / name
        p.write_bytes(b"x\n")
        os.utime(p, (c.t - days * 86400, c.t - days * 86400))
    r = mk(tmp_path, c, max_age=0)
    r.write(b"a\n")
    r.close()
    assert "log.202611100000" in files(tmp_path) and "log.202611200000" in files(tmp_path)


def test_keep_n_counts_the_current_file(tmp_path):
    c = Clock(utc("2026-11-22 10:00:00"))
    r = mk(tmp_path, c, keep=3)
    for i in range(6):
        r.write(b"%d\n" % i)
        c.t += 3600
        os.utime(r.path, (c.t - 1, c.t - 1))
    r.close()
    assert files(tmp_path) == ["current", "log.202611221300", "log.202611221400", "log.202611221500"]


def test_size_rotation_on_line_boundaries(tmp_path):
    c = Clock(utc("2026-11-22 10:00:00"))
    r = mk(tmp_path, c, max_size=10, link=None)
    r.write(b"aaaa\nbbbb\ncccc\n" + b"x" * 25 + b"\nd\n")
    r.close()
    got = {n: (tmp_path / n).read_bytes() for n in files(tmp_path)}
    assert got == {"log.202611221000": b"aaaa\nbbbb\n", "log.202611221000.1": b"cccc\n",
                   "log.202611221000.2": b"x" * 25 + b"\n", "log.202611221000.3": b"d\n"}


def test_restart_appends_to_the_last_generation(tmp_path):
    c = Clock(utc("2026-11-22 10:00:00"))
    r = mk(tmp_path, c, max_size=100)
    r.write(b"a\n")
    r.rotate_now()
    r.write(b"b\n")
    r.close()
    r = mk(tmp_path, c, max_size=100)
    r.write(b"c\n")
    r.close()
    assert (tmp_path / "log.202611221000.1").read_bytes() == b"b\nc\n"


def test_compress_and_post_rotate_finish_before_close(tmp_path):
    c = Clock(utc("2026-11-22 10:59:59"))
    log = tmp_path / "hook.txt"
    r = mk(tmp_path, c, compress="gzip", post_rotate=f"echo >>{log}")
    r.write(b"first\n" * 1000)
    c.t += 2
    r.write(b"second\n")
    r.close()
    assert files(tmp_path) == ["current", "hook.txt", "log.202611221000.gz", "log.202611221100"]
    assert gzip.decompress((tmp_path / "log.202611221000.gz").read_bytes()) == b"first\n" * 1000
    assert log.read_text() == f"{tmp_path}/log.202611221000.gz {tmp_path}/log.202611221100\n"


def test_compressed_generation_is_never_reused(tmp_path):
    c = Clock(utc("2026-11-22 10:00:00"))
    (tmp_path / "log.202611221000.gz").write_bytes(b"")
    r = mk(tmp_path, c)
    r.write(b"a\n")
    r.close()
    assert r.path.endswith("log.202611221000.1")


def test_write_failure_keeps_the_data(tmp_path):
    (tmp_path / "blocker").write_bytes(b"")
    r = mk(tmp_path / "blocker", Clock(utc("2026-11-22 10:00:00")))
    with pytest.raises(WriteFailed) as e:
        r.write(b"keep me\n")
    assert e.value.remaining == b"keep me\n"


def test_pattern_glob():
    assert pattern_glob("/d/log.%Y%m%d%H%M") == "/d/log.*"
    assert pattern_glob("/d/[x]%Y/a-%d.log") == "/d/[[]x]*/a-*.log"


def test_partial_compression_left_by_kill9_is_redone(tmp_path):
    c = Clock(utc("2026-11-22 10:00:00"))
    (tmp_path / "log.202611220900").write_bytes(b"old\n")
    (tmp_path / "log.202611220900.gz.tmp").write_bytes(b"\x1f\x8b partial")
    r = mk(tmp_path, c, compress="gzip")
    r.write(b"a\n")
    r.close()
    assert files(tmp_path) == ["current", "log.202611220900.gz", "log.202611221000"]
    assert gzip.decompress((tmp_path / "log.202611220900.gz").read_bytes()) == b"old\n"
