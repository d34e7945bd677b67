"""Time zones and the line time stamps.

A `Zone` gives the UTC offset (seconds) of an epoch time: the local zone (as the C library
knows it, TZ respected), UTC, or a named IANA zone (zoneinfo). Stamps carry the real offset
(upstream prints a literal "+0900" whatever the zone).
"""
import time

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FORMATS = ("clf", "rfc3339", "epoch", "tai64n")


class Zone:
    def __init__(self, name: str = "local"):
        self.name = name
        self._zi = None
        if name.lower() in ("utc", "z", "gmt"):
            self.kind = "utc"
        elif name.lower() == "local":
            self.kind = "local"
        else:
            import zoneinfo
            try:
                self._zi = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
                raise ValueError(f"unknown time zone {name!r}") from e
            self.kind = "named"

    def offset(self, t: float) -> int:
        if self.kind == "utc":
            return 0
        if self.kind == "local":
            return time.localtime(t).tm_gmtoff
        import datetime
        dt = datetime.datetime.fromtimestamp(t, self._zi)
        return int(dt.utcoffset().total_seconds())


def _offset_text(off: int, colon: bool) -> str:
    sign = "-" if off < 0 else "+"
    off = abs(off) // 60
    return f"{sign}{off // 60:02d}{':' if colon else ''}{off % 60:02d}"


class Stamper:
    """`stamp(t)` -> the prefix bytes for a line read at epoch time t (cached per second)."""

    def __init__(self, fmt: str, zone: Zone):
        if fmt not in FORMATS:
            raise ValueError(f"unknown time format {fmt!r}")
        self.fmt = fmt
        self.zone = zone
        self._sec = None
        self._val = b""

    def stamp(self, t: float) -> bytes:
        if self.fmt == "tai64n":
            sec = int(t)
            ns = int((t - sec) * 1e9)
            return b"@%016x%08x " % (2 ** 62 + 10 + sec, ns)
        sec = int(t // 1)
        if sec == self._sec:
            return self._val
        self._sec = sec
        if self.fmt == "epoch":
            self._val = b"%d " % sec
            return self._val
        off = self.zone.offset(sec)
        tm = time.gmtime(sec + off)
        if self.fmt == "clf":
            s = (f"[{tm.tm_mday:02d}/{MONTHS[tm.tm_mon - 1]}/{tm.tm_year:04d}:{tm.tm_hour:02d}:"
                 f"{tm.tm_min:02d}:{tm.tm_sec:02d} {_offset_text(off, False)}] ")
        else:
            z = "Z" if off == 0 else _offset_text(off, True)
            s = (f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:"
                 f"{tm.tm_min:02d}:{tm.tm_sec:02d}{z} ")
        self._val = s.encode()
        return self._val
