"""mysql-log2jsonl's fast path for slow logs (whole blocks split by one regular expression, the
fields turned into JSON column by column) against the reference path (one entry at a time):
random slow logs, cut into random blocks, must give the same bytes, the same counts, the same
first invalid line and the same state at the end."""
from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlap.log2jsonl import Converter

HEADER = (b"/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-log (Debian 12). started with:\n"
          b"Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\nTime\t\t    Id Command\tArgument\n")

# pieces statements are made of: quotes, backslashes, tabs, control characters, non-ASCII,
# invalid UTF-8, `;`, `#`, blanks, things that look like the log's own lines
WORDS = [b"SELECT", b"select", b"INSERT INTO t VALUES", b"UPDATE t SET v = 1", b"DELETE FROM t", b"1", b"*",
         b"FROM t", b"WHERE id = 42", b"'it''s'", b'"q"', b"'a\\\\b'", b"\\", b"\t", b"\x00", b"\x1f", b"\x7f",
         b"\r", b"caf\xc3\xa9", b"\xe2\x80\xa8", b"\xf0\x9f\x98\x80", b"\xff", b"\xc3", b";", b";;", b"#",
         b"# c", b" ", b"  ", b"use x", b"USE y", b"/* c */", b"/*! c */", b"*/", b"(", b")", b"WITH", b"Replace", b"\xc2\xa0", b"\x0c", b"\x0b",
         b"started with:", b"\x1c", b"\n", b"\n  ", b"\n# Time: 261207 10:00:00", b"\n# User@Host: a[a] @ h [i]",
         b"\n# Query_time: 1", b"\nuse z;", b"\nSET timestamp=5;"]


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


CLEAN_WORDS = [w for w in WORDS if _utf8(w)]


def pick(draw, clean: bool, values: list[bytes]) -> bytes:
    """One of `values`; a clean log (one the fast path takes whole) only gets valid UTF-8."""
    return draw(st.sampled_from([v for v in values if _utf8(v)] if clean else values))


@st.composite
def statements(draw, clean: bool):
    n = draw(st.integers(0, 7))
    body = b" ".join(draw(st.sampled_from(CLEAN_WORDS if clean else WORDS)) for _ in range(n))
    if draw(st.booleans()):
        body = draw(st.sampled_from([b"SELECT 1", b"SELECT * FROM orders WHERE id = 7",
                                     b"INSERT INTO e VALUES (1, '{\"k\": \"v\"}')"])) + (b" " + body if body else b"")
    end = draw(st.sampled_from([b";\n", b";\n", b";\n", b"\n", b" ;\n", b";;\n", b"; \n", b";", b";\n\n"]))
    return body + end


@st.composite
def entries(draw, mysql: bool, clean: bool):
    out = b""
    if draw(st.integers(0, 3)) == 0:
        out += draw(st.sampled_from([b"# Time: 261207 10:00:01\n", b"# Time: 261207  9:05:59\n",
                                     b"# Time: 2026-12-07T10:00:01.123456Z\n", b"# Time: 2026-12-07T10:00:02Z\n",
                                     b"# Time: \xff\n"] if mysql else
                                    [b"# Time: 261207 10:00:01\n", b"# Time: 261207  9:05:59\n",
                                     b"# Time: 261207 23:59:59\n"]))
    user = pick(draw, clean, [b"app", b"app", b"", b"r\xc3\xa9", b'q"u', b"b\\s", b"x y", b"\xff"])
    host = draw(st.sampled_from([b"web1 ", b"", b" ", b"localhost ", b"h\tx "]))
    ip = draw(st.sampled_from([b"10.0.0.5", b"", b"::1"]))
    tail = b"" if clean else draw(st.sampled_from([b"", b"", b"  Id:     8", b" junk"]))
    out += b"# User@Host: " + user + b"[" + user + b"] @ " + host + b"[" + ip + b"]" + tail + b"\n"
    if not mysql or draw(st.integers(0, 5)) == 0:
        tid = draw(st.sampled_from([b"62", b"0", b"007", b"123456789"] + ([] if clean else [b"x"])))
        schema = pick(draw, clean, [b"shop", b"shop", b"", b"caf\xc3\xa9", b"d\"b", b"s\\b", b"\xfe"])
        sep = draw(st.sampled_from([b"  ", b"  ", b"\t", b""]))
        out += b"# Thread_id: " + tid + sep + b"Schema: " + schema + draw(st.sampled_from([b"  QC_hit: No", b""])) + b"\n"
    if draw(st.integers(0, 9)) == 0:
        out += draw(st.sampled_from([b"# Full_scan: No  Full_join: No\n", b"# administrator command: Ping;\n"]))
    if draw(st.integers(0, 15)):
        qt = draw(st.sampled_from([b"0.010230", b"1", b"12.5", b"1.2.3", b"x"]))
        rows = draw(st.sampled_from([b"2844", b"0", b"007"]))
        out += (b"# Query_time: " + qt + b"  Lock_time: 0.000012  Rows_sent: 25  Rows_examined: " + rows + b"\n"
                if draw(st.integers(0, 3)) else
                b"# Query_time: " + qt + b"  Lock_time: 0.000002 Rows_sent: 1  Rows_examined: " + rows + b"\n")
    for _ in range(draw(st.integers(0, 2))):
        out += draw(st.sampled_from([b"# Rows_affected: 0  Bytes_sent: 11\n", b"# Full_scan: No  Filesort: No\n",
                                     b"# Time: 261207 10:00:03\n", b"# administrator command: Quit;\n",
                                     b"# explain: id # 1\n", b"# Pages: 3\n"]))
    if draw(st.integers(0, 6)) == 0:
        out += draw(st.sampled_from([b"use other;\n", b"use `we ird`;\n", b"use ;\n", b"use caf\xc3\xa9;\n"]))
    if draw(st.integers(0, 8)):
        out += b"SET timestamp=" + draw(st.sampled_from([b"1796650000", b"1796650001", b"1796736000", b"0",
                                                          b"99999999999999999999", b"12345678901"])) + b";\n"
    if draw(st.integers(0, 12)) == 0:
        out += b"# administrator command: Quit;\n"
    else:
        out += draw(statements(clean))
    return out


@st.composite
def common_entries(draw):
    """The shape MariaDB writes (what the fast path takes), its fields and statement varied."""
    out = b""
    if draw(st.integers(0, 2)) == 0:
        out += b"# Time: 261207 10:00:0" + draw(st.sampled_from([b"1", b"2", b"3"])) + b"\n"
    user = draw(st.sampled_from([b"app", b"batch", b"", b"r\xc3\xa9", b'q"u', b"b\\s"]))
    host = draw(st.sampled_from([b"web1 [10.0.0.5]", b" [10.0.0.6]", b"localhost []", b"job1 [::1]"]))
    out += b"# User@Host: " + user + b"[" + user + b"] @ " + host + b"\n"
    out += (b"# Thread_id: " + draw(st.sampled_from([b"62", b"0", b"123456789"])) + b"  Schema: "
            + draw(st.sampled_from([b"shop", b"shop", b"", b"caf\xc3\xa9", b'd"b'])) + b"  QC_hit: No\n")
    out += (b"# Query_time: " + draw(st.sampled_from([b"0.010230", b"1", b"0.5"])) + b"  Lock_time: 0.000012  "
            b"Rows_sent: 25  Rows_examined: " + draw(st.sampled_from([b"2844", b"0"])) + b"\n")
    if draw(st.booleans()):
        out += b"# Rows_affected: 0  Bytes_sent: 11\n"
    if draw(st.integers(0, 4)) == 0:
        out += draw(st.sampled_from([b"use other;\n", b"use `we ird`;\n", b"use caf\xc3\xa9;\n"]))
    out += b"SET timestamp=" + draw(st.sampled_from([b"1796650000", b"1796650001", b"1796736000"])) + b";\n"
    n = draw(st.integers(0, 4))
    body = b" ".join(draw(st.sampled_from(CLEAN_WORDS)) for _ in range(n))
    out += draw(st.sampled_from([b"SELECT 1", b"SELECT * FROM orders WHERE id = 7",
                                 b"INSERT INTO e VALUES (1, '{\"k\": \"v\"}')", b"/* c */ WITH x AS (SELECT 1)",
                                 b"( SELECT 1 )", b"UPDATE t SET v = 1", b"Replace INTO t VALUES (1)",
                                 b"/* a */ 1 */ SELECT 2", b"/*! c */ SELECT 3", b"SHOW TABLES", b"delete FROM t",
                                 b"/* x */\x1cSELECT 4"])) + (b" " + body if body else b"")
    return out + draw(st.sampled_from([b";\n", b";\n", b";\n", b";\n", b"\n", b";;\n"]))


@st.composite
def slow_logs(draw):
    clean = draw(st.booleans())
    mysql = not clean and draw(st.booleans()) and draw(st.booleans())
    out = HEADER if draw(st.booleans()) else b""
    for _ in range(draw(st.integers(0, 25))):
        r = draw(st.integers(0, 30))
        if r == 0:
            out += draw(st.sampled_from([b"this line is damaged\n", b"\n", b"Tcp port: 3306\n"]
                                        + ([] if clean else [HEADER])))
        elif r == 1:       # an entry that lost lines
            e = draw(entries(mysql, clean))
            lines = e.split(b"\n")
            del lines[draw(st.integers(0, len(lines) - 1))]
            out += b"\n".join(lines)
        elif clean and r > 6:
            out += draw(common_entries())
        else:
            out += draw(entries(mysql, clean))
    return out


def _convert(data: bytes, cuts: list[int], fast: bool, fmt: str = "slow", only: str = "all", db: str | None = None):
    c = Converter(only, db, fmt=fmt, fast=fast, name="x.log")
    out, prev = [], 0
    for k in sorted({min(x, len(data)) for x in cuts}) + [len(data)]:
        if k > prev:
            out.append(c.feed_bytes(data[prev:k]))
        prev = k
    out.append(c.end_bytes())
    s = c.stats
    return b"".join(out), (s.entries, s.written, s.skipped, s.invalid, s.first_invalid, c.cur_db, c.cur_time,
                           c.lineno)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=slow_logs(), cuts=st.lists(st.integers(0, 6000), max_size=4), fmt=st.sampled_from(["slow", "auto"]),
       only=st.sampled_from(["all", "all", "select", "dml"]), db=st.sampled_from([None, None, "shop", "other", "caf\u00e9"]))
def test_fast_path_equals_the_reference(data, cuts, fmt, only, db):
    ref = _convert(data, cuts, False, fmt, only, db)
    assert _convert(data, cuts, True, fmt, only, db) == ref
    for line in ref[0].splitlines():
        json.loads(line)


def bench_like_log(n: int, seed: int = 19) -> bytes:
    """Entries as scripts/bench/qrn writes them (MariaDB 10.11), with odd ones among them."""
    rnd = random.Random(seed)
    ts, db, out = 1796650000, "shop", [HEADER.decode()]
    for i in range(n):
        if rnd.random() < 0.3:
            ts += 1
            t = ts - 1796650000
            out.append(f"# Time: 261207 {10 + t // 3600 % 10:2d}:{t // 60 % 60:02d}:{t % 60:02d}\n")
        u = rnd.choice(["app", "batch", "r\u00e9"])
        host = rnd.choice(["web1 ", "", "localhost "])
        out.append(f"# User@Host: {u}[{u}] @ {host}[10.0.0.{rnd.randrange(9)}]\n"
                   f"# Thread_id: {rnd.randrange(500)}  Schema: {rnd.choice([db, db, ''])}  QC_hit: No\n"
                   f"# Query_time: {rnd.random() / 50:.6f}  Lock_time: 0.000012  Rows_sent: 3  "
                   f"Rows_examined: {rnd.randrange(5000)}\n# Rows_affected: 0  Bytes_sent: 90\n")
        if rnd.random() < 0.05:
            db = rnd.choice(["shop", "auth", "st\u00e4ts"])
            out.append(f"use {db};\n")
        out.append(f"SET timestamp={ts};\n")
        r = rnd.random()
        if r < 0.02:
            out.append("# administrator command: Quit;\n")
        elif r < 0.04:
            out.append("SELECT '\ttab'\n  FROM t;\n")
        else:
            out.append(rnd.choice(["SELECT id FROM items WHERE id = 5;\n",
                                   "SELECT * FROM orders WHERE s IN ('new', \"x\\\\y\")\n  ORDER BY c\n  LIMIT 20;\n",
                                   "INSERT INTO events VALUES (1, '{\"page\": \"/p/\u00e9\"}');\n",
                                   "UPDATE carts SET qty = qty + 1 WHERE id = 9;\n"]))
    return "".join(out).encode()


def test_fast_path_is_taken_and_equal_on_a_production_like_log():
    data = bench_like_log(3000)
    c = Converter(fmt="slow")
    assert c._fast_slow(data) is not None            # the common shape takes the fast path
    for cuts in ([], [100_000, 300_000], list(range(0, len(data), 7001))):
        fast, ref = _convert(data, cuts, True), _convert(data, cuts, False)
        assert fast == ref
    for only, db in (("select", None), ("dml", "shop"), ("all", "st\u00e4ts")):   # --only, --db: fast too
        assert _convert(data, [200_000], True, "slow", only, db) == _convert(data, [200_000], False, "slow", only, db)
    recs = [json.loads(x) for x in fast[0].splitlines()]
    assert len(recs) == fast[1][1] and fast[1][3] == 0
    assert not any(r["query"].startswith("# administrator") for r in recs)
    assert any("\t" in r["query"] for r in recs) and any("\u00e9" in r["query"] for r in recs)


def test_first_invalid_line_number_inside_a_fast_block():
    data = bench_like_log(400)
    at = data.index(b";\n# User@Host: ", len(data) // 2) + 2          # not after a # Time: line
    data = data[:at] + b"# User@Host: cut[cut] @ web1 [10.0.0.5]\nSELECT 'lost its header';\n" + data[at:]
    line = data[:at].count(b"\n") + 1
    c = Converter(fmt="slow", name="s.log")
    assert c._fast_slow(data) is not None and c.stats.invalid == 1
    assert c.stats.first_invalid.startswith(f"s.log:{line}: '# User@Host: cut")
    assert _convert(data, [], True) == _convert(data, [], False)


def test_invalid_utf8_and_mysql_time_leave_the_block_to_the_reference():
    data = bench_like_log(200)
    bad = data.replace(b"WHERE id = 5;", b"WHERE id = '\xff';", 1)
    assert Converter(fmt="slow")._fast_slow(bad) is None
    assert _convert(bad, [], True) == _convert(bad, [], False)
    assert _convert(bad, [], True)[1][3] == 1                     # the entry counted invalid
    mysql = data.replace(b"# Time: 261207 10:00:01\n", b"# Time: 2026-12-07T10:00:01.5Z\n")
    assert Converter(fmt="slow")._fast_slow(mysql) is None
    assert _convert(mysql, [], True) == _convert(mysql, [], False)


def test_admin_command_after_set_timestamp_and_huge_timestamp():
    log = (b"# User@Host: app[app] @ web1 [10.0.0.5]\n# Thread_id: 10  Schema: shop  QC_hit: No\n"
           b"# Query_time: 0.000010  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n"
           b"SET timestamp=1796657326;\n# administrator command: Quit;\n"
           b"# User@Host: app[app] @ web1 [10.0.0.5]\n# Thread_id: 10  Schema: shop  QC_hit: No\n"
           b"# Query_time: 0.000010  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n"
           b"SET timestamp=99999999999999999999;\nSELECT 1;\n")
    for fast in (True, False):
        c = Converter(fmt="slow", fast=fast)
        recs = [json.loads(x) for x in c.feed(log) + c.end()]
        assert recs == [{"query": "SELECT 1", "user": "app", "host": "web1", "query_time": 0.00001,
                         "rows_examined": 0, "thread_id": 10, "db": "shop"}]
        assert c.stats.skipped == 1 and c.stats.entries == 2
