"""Property tests: the fast (bulk, regex) paths produce exactly what the per-record path and an
independent line-by-line model of the upstream semantics produce, on regular and irregular input."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lltsv import core, expr, filters, gonum

LABELS = [b"a", b"b", b"ab", b"ba", b"time", b"reqtime", b"", b"x-y"]
VALUES = [b"", b"0", b"1", b"1.5", b"2", b"-3", b"abc", b"ABC", b"Abc", b"-", b"1e3", b" 3", b"a:b", b"reqtime:9",
          b"\ta:1", b"0x1p1", b"nan", b"inf", b"\r"]

value = st.sampled_from(VALUES)
label = st.sampled_from(LABELS)


@st.composite
def irregular_line(draw):
    cols = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            cols.append(b"junk")
        elif kind == 1:
            cols.append(b"")
        else:
            cols.append(draw(label) + b":" + draw(value))
    return b"\t".join(cols)


@st.composite
def log(draw):
    sig = draw(st.lists(label, min_size=1, max_size=5, unique=True))
    lines = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 7))
        if kind == 0:
            lines.append(draw(irregular_line()))
        elif kind == 1:   # a regular line with one label repeated somewhere
            cols = [lb + b":" + draw(value).replace(b"\t", b"") for lb in sig]
            dup = draw(st.sampled_from(sig)) + b":" + draw(value).replace(b"\t", b"")
            cols.insert(draw(st.integers(0, len(cols))), dup)
            lines.append(b"\t".join(cols))
        else:
            lines.append(b"\t".join(lb + b":" + draw(value).replace(b"\t", b"") for lb in sig))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = eol.join(lines)
    if lines and draw(st.booleans()):
        data += eol
    return data


def model(data: bytes, keys=None, no_key=False, ignore=(), conds=()):
    """Upstream semantics, written plainly (conds: (key, python-op, float))."""
    out = []
    if not data:
        return b""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        labels, d = [], {}
        for col in line.split(b"\t"):
            if b":" in col:
                k, v = col.split(b":", 1)
                labels.append(k)
                d[k] = v
        ok = True
        for k, op, rhs in conds:
            v = gonum.parse(d.get(k, b""))
            if v is None or not op(v, rhs):
                ok = False
        if not ok:
            continue
        sel = keys if keys else [k for k in labels if k not in ignore]
        if no_key:
            out.append(b"\t".join(d.get(k, b"") for k in sel))
        else:
            out.append(b"\t".join(k + b":" + d.get(k, b"") for k in sel))
    return b"".join(x + b"\n" for x in out)


def run_engine(data, opts, fast=True, min_split=1):
    eng = core.Engine(opts)
    eng.MIN_SPLIT = min_split
    if not fast:
        eng.fast_all = eng.fast_keys = eng.fast_filter_all = eng.fast_sig_keys = eng.fast_expr = False
    import io

    from lltsv import reader
    out = io.BytesIO()
    reader.run(eng, io.BytesIO(data), "t", out)
    return out.getvalue(), eng


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
key_lists = st.lists(label, min_size=0, max_size=4)


@SETTINGS
@given(log(), key_lists, st.booleans())
def test_select_matches_model(data, keys, no_key):
    opts = core.Options(keys=keys, no_key=no_key and bool(keys))
    fast, _ = run_engine(data, opts)
    slow, _ = run_engine(data, opts, fast=False)
    assert fast == slow == model(data, keys, no_key and bool(keys))


@SETTINGS
@given(log(), key_lists, st.sampled_from(LABELS), st.sampled_from([">", ">=", "<", "<="]),
       st.sampled_from([b"0", b"1", b"1.5", b"-1"]))
def test_numeric_filter_matches_model(data, keys, fkey, op, rhs):
    f = filters.Filter(fkey + b" " + op.encode() + b" " + rhs)
    opts = core.Options(keys=keys, filters=[f])
    fast, e1 = run_engine(data, opts)
    slow, e2 = run_engine(data, opts, fast=False)
    expect = model(data, keys, conds=[(fkey, filters.NUMERIC[op], float(rhs))])
    assert fast == slow == expect
    assert e1.problems == e2.problems   # same count and same first bad record


@SETTINGS
@given(log(), key_lists, st.sampled_from(LABELS),
       st.sampled_from(["==", "!=", "==*", "!=*", "=~", "!~", "=~*", "!~*"]),
       st.sampled_from([b"1", b"1.0", b"abc", b"ABC", b"", b"-", b"^a", b"B$", b"\\d", b"\\S:"]))
def test_string_filters_fast_equals_slow(data, keys, fkey, op, rhs):
    f = filters.Filter(fkey + b" " + op.encode() + b" " + rhs)
    opts = core.Options(keys=keys, filters=[f])
    assert run_engine(data, opts)[0] == run_engine(data, opts, fast=False)[0]


@SETTINGS
@given(log(), st.lists(label, max_size=2), st.booleans(), st.sampled_from([None, b"a > 1", b"b =~ ^A"]))
def test_all_fields_with_ignore_or_no_key(data, ignore, no_key, cond):
    fl = [filters.Filter(cond)] if cond else []
    opts = core.Options(ignore=ignore, no_key=no_key, filters=fl)
    fast, _ = run_engine(data, opts)
    assert fast == run_engine(data, opts, fast=False)[0]
    if cond is None:
        assert fast == model(data, ignore=set(ignore), no_key=no_key)


@SETTINGS
@given(log(), st.lists(label, min_size=1, max_size=3),
       st.lists(st.sampled_from(["x = a + 1", "a = a * 2", "x = a / b", "b = -ab", "x = round(a) % 3",
                                 "time = reqtime * 1000", "x = x + 1"]), min_size=1, max_size=3),
       st.sampled_from([None, b"a > 1", b"x == 2", b"b =~ ^A"]))
def test_expressions_fast_equals_slow(data, keys, exprs, cond):
    from lltsv.expr import Expression
    fl = [filters.Filter(cond)] if cond else []
    opts = core.Options(keys=keys + [b"x"], exprs=[Expression(e) for e in exprs], filters=fl)
    fast, e1 = run_engine(data, opts)
    slow, e2 = run_engine(data, opts, fast=False)
    assert fast == slow
    assert e1.problems == e2.problems


@SETTINGS
@given(st.binary(max_size=30))
def test_gonum_agrees_with_python_on_plain_decimals(b):
    v = gonum.parse(b)
    if gonum._PLAIN.fullmatch(b):
        f = float(b)
        assert v == (None if math.isinf(f) else f)
    elif v is not None and not math.isnan(v):
        # whatever Go accepts has no whitespace and reads back the same number
        assert not b.strip() != b
    fl = gonum.fast_floats([b])
    if fl is not None:
        assert fl == [v]


def test_fast_path_corner_cases():
    base = [b"time:1\treqtime:0.5\turi:/a"] * 30
    cases = [
        b"time:1\treqtime:0.1\treqtime:0.9\turi:/dup",        # duplicate: the last wins
        b"reqtime:0.7\ttime:1\treqtime:0.2\turi:/first",       # also at line start
        b"time:1\treqtime:0.3\turi:/?reqtime:5",               # the key inside a value
        b"time:1\turi:/missing",
        b"time:1\treqtime\turi:/nocolon",
    ]
    for extra in cases:
        for pos in (0, 15, 30):
            lines = base[:pos] + [extra] + base[pos:]
            data = b"\n".join(lines) + b"\n"
            for keys in ([b"reqtime"], [b"time", b"reqtime", b"uri"], [b"uri"]):
                opts = core.Options(keys=keys, no_key=True)
                assert run_engine(data, opts)[0] == model(data, keys, True), (extra, keys)
            f = filters.Filter(b"reqtime > 0.4")
            opts = core.Options(filters=[f])
            assert run_engine(data, opts)[0] == model(
                data, conds=[(b"reqtime", filters.NUMERIC[">"], 0.4)]), extra


def test_expression_fast_path_reports_like_the_slow_path():
    from lltsv.expr import Expression
    data = b"a:1\tb:0\na:2\tb:1\n" * 20 + b"a:x\tb:1\n"
    for fl in ([], [filters.Filter(b"x > 1")]):
        opts = core.Options(keys=[b"a", b"x"], exprs=[Expression("x = a / b")], filters=fl)
        fast, e1 = run_engine(data, opts, min_split=1000)
        slow, e2 = run_engine(data, opts, fast=False)
        assert fast == slow
        assert e1.problems == e2.problems and e1.problems


# -- issue 16: the bulk paths on mixed logs (several layouts, per-line label order, odd lines) ----
MLABELS = [b"time", b"status", b"reqtime", b"uri", b"ua", b"a", b"req"]
MVALUES = [b"", b"0", b"0.5", b"1", b"2.50", b"-", b"abc", b"/api/x:1", b"GET /api/a:b HTTP/1.1",
           b"reqtime:9", b" 1", b"1e3", b"0x1p1", b"nan"]


@st.composite
def mixed_log(draw):
    layouts = draw(st.lists(st.lists(st.sampled_from(MLABELS), min_size=1, max_size=6, unique=True),
                            min_size=1, max_size=4))
    lines = []
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.integers(0, 11))
        if kind == 0:
            lines.append(draw(irregular_line()))
        elif kind == 1:
            lines.append(draw(st.sampled_from([b"", b"garbage line", b"status200\treqtime:1", b"\t",
                                               b"a:1\t\tb:2", b"reqtime:1\treqtime:2", b"x:1\t"])))
        else:
            labels = list(draw(st.sampled_from(layouts)))
            if kind == 2:    # per-line shuffled order
                labels = draw(st.permutations(labels))
            elif kind == 3 and len(labels) > 1:   # an optional label missing
                labels.pop(draw(st.integers(0, len(labels) - 1)))
            elif kind == 4:  # a label twice: the last value wins
                labels.insert(draw(st.integers(0, len(labels))), draw(st.sampled_from(labels)))
            lines.append(b"\t".join(lb + b":" + draw(st.sampled_from(MVALUES)) for lb in labels))
    data = b"\n".join(lines)
    if lines and draw(st.booleans()):
        data += b"\n"
    return data


def run_small_chunks(data, opts, fast=True):
    from lltsv import reader
    old = reader.CHUNK
    reader.CHUNK = 97       # many chunks: line numbers and state across chunks
    try:
        return run_engine(data, opts, fast=fast)
    finally:
        reader.CHUNK = old


MSETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
mkeys = st.lists(st.sampled_from(MLABELS + [b"nope"]), min_size=1, max_size=4)


@MSETTINGS
@given(mixed_log(), st.one_of(st.just([]), mkeys), st.booleans(), st.booleans())
def test_bulk_select_on_mixed_logs(data, keys, no_key, small):
    opts = core.Options(keys=keys, no_key=no_key and bool(keys))
    run = run_small_chunks if small else run_engine
    fast, _ = run(data, opts)
    slow, _ = run(data, opts, fast=False)
    assert fast == slow == model(data, keys, no_key and bool(keys))


@MSETTINGS
@given(mixed_log(), st.one_of(st.just([]), mkeys),
       st.lists(st.sampled_from([b"reqtime > 0.5", b"reqtime <= 1", b"status == 0", b"status != -",
                                 b"uri =~ ^/api/", b"ua !~* x:1", b"a ==* ABC", b"time >= 0"]),
                min_size=1, max_size=3),
       st.booleans())
def test_bulk_filters_on_mixed_logs(data, keys, conds, small):
    fl = [filters.Filter(c) for c in conds]
    opts = core.Options(keys=keys, filters=fl)
    run = run_small_chunks if small else run_engine
    fast, e1 = run(data, opts)
    slow, e2 = run(data, opts, fast=False)
    assert fast == slow
    assert e1.problems == e2.problems
    numeric = [(f.key, filters.NUMERIC[f.op], f.rhs_num) for f in fl if f.numeric]
    if len(numeric) == len(fl):
        assert fast == model(data, keys, conds=numeric)


@MSETTINGS
@given(mixed_log(), mkeys,
       st.lists(st.sampled_from(["ms = reqtime * 1000", "x = reqtime / status", "status = status + 1",
                                 "y = ms - 1", "reqtime = round(reqtime)"]), min_size=1, max_size=3),
       st.sampled_from([None, b"ms > 100", b"x >= 0", b"status == 1"]), st.booleans())
def test_bulk_expressions_on_mixed_logs(data, keys, exprs, cond, small):
    from lltsv.expr import Expression
    fl = [filters.Filter(cond)] if cond else []
    opts = core.Options(keys=keys + [b"ms"], exprs=[Expression(e) for e in exprs], filters=fl)
    run = run_small_chunks if small else run_engine
    fast, e1 = run(data, opts)
    slow, e2 = run(data, opts, fast=False)
    assert fast == slow
    assert e1.problems == e2.problems


@MSETTINGS
@given(mixed_log(), st.integers(3, 5), st.booleans())
def test_all_fields_known_layouts_or_labels_on_mixed_logs(data, reps, trie):
    """All fields through the trie of known layouts (learned on earlier chunks), or through the
    regex of known labels (each once, any order): the lines they recognise print as they are,
    the others are checked one by one and replaced in place."""
    chunk = data if data.endswith(b"\n") or not data else data + b"\n"
    chunk = chunk.replace(b"\r\n", b"\n")   # as the reader does
    expect = model(chunk)
    eng = core.Engine(core.Options())
    regular = [ln for ln in chunk.split(b"\n") if ln and core.line_signature(ln)]
    if trie:
        _learn(eng, regular[::2])     # half the layouts known: the others are odd lines
    for _ in range(reps):
        eng._sig_failing = 1          # past the single-layout try
        eng._layout_failing = 0 if trie else 5
        assert eng.chunk(chunk, "t", 0) == expect
    if regular:
        assert (eng._layout_rx is not None) == trie
        if not trie:
            assert eng._uniq_rx is not None


def _learn(eng, lines):
    for ln in lines:
        for _ in range(3):
            eng._learn_layout(core.line_signature(ln))
    if eng._layouts_new:
        eng._build_layout_rx()


def test_splice_replaces_the_right_line_among_equal_texts():
    fixes_in = (b"a:1\ta:2\na:1\tb:2\na:1\ta:2\nc:3\na:1\ta:2\nnot ltsv\na:1\ta:2\n\ta:1\n"
                b"b:1\t\ta:1\nb:2\ta:1\t\n")
    for trie in (True, False):
        eng = core.Engine(core.Options())
        if trie:
            _learn(eng, [b"a:1\tb:2", b"b:1\ta:2"])
        for _ in range(4):
            eng._sig_failing = 1
            eng._layout_failing = 0 if trie else 5
            assert eng.chunk(fixes_in, "t", 0) == model(fixes_in)
        assert eng._uniq_rx is not None and (eng._layout_rx is not None) == trie


# -- issue 16, later: the walk and the all-fields regexes read the chunk with TAB before LF
# (core.tab_ended), and the engine counts a chunk's lines from the first column it reads ------
SOUP_LABELS = [b"req", b"reqtime", b"reqtimex", b"re", b"", b"status", b"uri"]
SOUP_COLUMNS = st.one_of(
    st.builds(lambda lb, v: lb + b":" + v, st.sampled_from(SOUP_LABELS),
              st.sampled_from([b"", b"0.7", b"1", b"x", b"a:b", b"\x00", b"reqtime:2", b"-", b"\r"])),
    st.sampled_from([b"", b"junk", b"reqtime", b"req", b"status", b":", b"::"]))


@st.composite
def column_soup(draw):
    """Lines of any columns: labels that are prefixes of each other, the empty label, columns
    without ':', empty columns (runs of TABs, leading and trailing TABs), empty lines."""
    lines = [b"\t".join(draw(st.lists(SOUP_COLUMNS, max_size=4))) for _ in range(draw(st.integers(0, 30)))]
    return b"".join(ln + b"\n" for ln in lines)


@MSETTINGS
@example(b"reqtime:1\nreqtime\nreqtimex\treqtime:2\n\t\nre:\tre\n", [b"re"], None, False)
@example(b"req:1\treqtime:2\treq:3\n\treqtime:\t\n", [b"req", b"reqtime"], b"reqtime > 0.5", True)
@given(column_soup(), st.lists(st.sampled_from(SOUP_LABELS + [b"nope"]), min_size=1, max_size=4),
       st.sampled_from([None, b"reqtime > 0.5", b"re =~ ^a", b"req != x"]), st.booleans())
def test_walk_and_line_count_on_any_columns(data, keys, cond, with_keys):
    """-k on the column walk, -f without -k, all fields (trie of layouts, regex of labels): the
    same bytes and reports as the per-record path, and the line count the reader goes on with."""
    fl = [filters.Filter(cond)] if cond else []
    opts = core.Options(keys=keys if with_keys else None, filters=fl)
    regular = [ln for ln in data.split(b"\n") if ln and core.line_signature(ln)]
    for sig_failing, layout_failing in ((3, 0), (3, 5), (0, 0)):
        eng = core.Engine(opts)
        if not layout_failing:
            _learn(eng, regular)     # the trie knows every layout of the chunk
        slow = core.Engine(opts)
        expect = slow._slow(data, "t", 0)
        for rep in range(2):   # the second time, with what the first taught (layouts, labels)
            eng._sig_failing = sig_failing
            eng._layout_failing = layout_failing
            eng.problems = {}
            assert eng.chunk(data, "t", 0) == expect
            assert eng.lines == data.count(b"\n")
            assert eng.problems == slow.problems


# -- one place picks a chunk's path: a fast path that declines a chunk ran twice on it (once on
# the uncounted chunk, again from _process), decrementing _sig_failing twice; the output was the
# same (the per-record path or the other fast path decided it), only the time was spent twice --
def test_a_declining_fast_path_reads_the_chunk_once(monkeypatch):
    data = b"".join(b"a:%d\tb:x\n" % i for i in range(8)) + b"a:abc\tb:y\n"
    cases = [   # (options, the fast path that declines the chunk, _sig_failing before)
        # a filter key holding ':' cannot be searched for: the filter path declines at once
        (core.Options(filters=[filters.Filter(b"a:b > 1")]), "_fast_filter_all", 0),
        # a -k key holding ':' (the column walk declines), past the single-layout try
        (core.Options(keys=[b"a:b", b"a"]), "_fast_columns", 3),
        # a filter on a computed key that a line cannot read: declined after the walk
        (core.Options(keys=[b"a", b"x"], exprs=[expr.Expression("x = a * 2")],
                      filters=[filters.Filter(b"x > 1")]), "_fast_columns", 3),
    ]
    for opts, name, sig_failing in cases:
        calls = []
        real = getattr(core.Engine, name)

        def counting(self, chunk, *args, _real=real, _calls=calls):
            _calls.append(len(chunk))
            return _real(self, chunk, *args)

        monkeypatch.setattr(core.Engine, name, counting)
        eng = core.Engine(opts)
        eng._sig_failing = sig_failing
        assert eng.chunk(data, "t", 0) == core.Engine(opts)._slow(data, "t", 0)
        assert eng.lines == data.count(b"\n")
        assert calls == [len(data)], name       # under MIN_SPLIT lines: no halves either
        assert eng._sig_failing == max(sig_failing - 1, 0), name
        monkeypatch.undo()
