import re
import time

import pytest
from relaxlogs.timefmt import Stamper, Zone

T = 1763772959.25     # 2025-11-22T00:55:59.25Z


@pytest.mark.parametrize("zone,fmt,out", [
    ("UTC", "clf", b"[22/Nov/2025:00:55:59 +0000] "),
    ("Asia/Tokyo", "clf", b"[22/Nov/2025:09:55:59 +0900] "),
    ("America/New_York", "clf", b"[21/Nov/2025:19:55:59 -0500] "),
    ("Asia/Kolkata", "clf", b"[22/Nov/2025:06:25:59 +0530] "),
    ("UTC", "rfc3339", b"2025-11-22T00:55:59Z "),
    ("Asia/Tokyo", "rfc3339", b"2025-11-22T09:55:59+09:00 "),
    ("UTC", "epoch", b"1763772959 "),
])
def test_stamps(zone, fmt, out):
    assert Stamper(fmt, Zone(zone)).stamp(T) == out


def test_tai64n():
    s = Stamper("tai64n", Zone("UTC")).stamp(T)
    assert re.fullmatch(rb"@[0-9a-f]{24} ", s)
    assert int(s[1:17], 16) == 2 ** 62 + 10 + int(T)
    assert int(s[17:25], 16) == 250_000_000


def test_local_zone_uses_real_offset(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        # upstream prints a literal +0900 here
        assert Stamper("clf", Zone("local")).stamp(T) == b"[22/Nov/2025:00:55:59 +0000] "
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_unknown_zone():
    with pytest.raises(ValueError):
        Zone("Mars/Olympus")
