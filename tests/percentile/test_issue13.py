"""Issue 13, percentile items: -g output never collides with the statistic names, -k/-g on
NDJSON (dot paths), unknown Go-style options, messages showing the user's text as typed."""
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

LOG = (b"reqtime:1\tcount:a\n"
       b"reqtime:2\tcount:b\n"
       b"reqtime:3\tcount:b\n")


def test_group_named_like_a_statistic_json(pct):
    # before: {"count": 1, ...}: the group value was overwritten by the statistic
    r = pct(["-k", "reqtime", "-g", "count", "--json", "-p", "50"], LOG)
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["group"], x["count"]) for x in recs] == [("b", 2), ("a", 1)]


def test_group_named_like_a_statistic_ltsv_and_text(pct):
    # before: "count:b\tcount:2\t..." (the label twice)
    r = pct(["-k", "reqtime", "-g", "count", "--ltsv", "-p", "50"], LOG)
    first = r.stdout.splitlines()[0].split(b"\t")
    assert first[:2] == [b"group:b", b"count:2"]
    labels = [c.split(b":")[0] for c in first]
    assert len(labels) == len(set(labels))
    r = pct(["-k", "reqtime", "-g", "count", "-p", "50"], LOG)
    assert r.stdout.startswith(b"group: b\ncount: 2\n")


NDJSON = (b'{"time":1,"status":200,"reqtime":0.100,"upstream":{"time":"0.090"}}\n'
          b'{"reqtime":"1.500","status":500,"upstream":{"time":null}}\n'
          b'{"status":200,"reqtime":0.300,"upstream":{"time":0.2}}\n'
          b'{"status":404,"reqtime":"abc"}\n'
          b'{"status":200,"reqtime":"-"}\n'
          b'{"status":200,"reqtime":null}\n'
          b'{"status":"200","reqtime":0.5e0}\n')


def test_key_on_ndjson(pct):
    # before: every record "without a value"
    r = pct(["-k", "reqtime", "-p", "50,100"], NDJSON)
    assert r.returncode == 0
    assert r.stdout == (b"count: 4\nmax: 1.5000\navg: 0.6000\nmin: 0.1000\n"
                        b"50pt: 0.3000\n100pt: 1.5000\n")
    err = r.stderr.decode()
    assert '1 reqtime value skipped (not a number), first at <stdin>:4: "abc"' in err
    assert "2 records without a value for reqtime" in err


def test_dot_path_and_group_on_ndjson(pct):
    r = pct(["-k", "upstream.time", "-p", "50", "--json"], NDJSON)
    assert json.loads(r.stdout)["count"] == 2
    r = pct(["-k", "reqtime", "-g", "status", "-p", "50", "--ltsv"], NDJSON)
    assert r.stdout.splitlines()[0].startswith(b"group:200\tcount:3\t")   # 200 and "200" alike
    assert r.stdout.splitlines()[1].startswith(b"group:500\tcount:1\t")


def test_exact_member_name_before_the_path(pct):
    r = pct(["-k", "a.b", "-p", "50", "--json"], b'{"a.b":7,"a":{"b":1}}\n{"a":{"b":2}}\n')
    assert json.loads(r.stdout)["max"] == 7.0 and json.loads(r.stdout)["min"] == 2.0


def test_mixed_ltsv_and_ndjson_per_line_and_forced_format(pct):
    data = b'reqtime:1\n{"reqtime":2}\nreqtime:3\n{"reqtime":4}\n'
    r = pct(["-k", "reqtime", "-p", "50"], data)
    assert r.stdout.startswith(b"count: 4\n")
    r = pct(["-k", "reqtime", "-p", "50", "--input-format", "ltsv"], data)
    assert r.stdout.startswith(b"count: 2\n")
    r = pct(["-k", "reqtime", "-p", "50", "--input-format", "json", "-q"], data)
    assert r.stdout.startswith(b"count: 2\n")
    r = pct(["-k", "reqtime", "--input-format", "json", "--strict"], data)
    assert r.returncode == 1 and b"<stdin>:1:" in r.stderr


def test_json_key_with_colon_needs_json_format(pct):
    assert pct(["-k", "a:b"], b"").returncode == 2
    r = pct(["-k", "a:b", "--input-format", "json", "-p", "50"], b'{"a:b":3}\n')
    assert r.stdout.startswith(b"count: 1\n")


@pytest.mark.parametrize("arg", ["-perc=50", "-percent=50", "-perc", "-pxyz"])
def test_unknown_go_flag_is_an_unknown_option(pct, arg, capsys):
    # before: "invalid percentile 'erc=50'" (argparse read -p with the value "erc=50")
    r = pct([arg], b"1\n")
    err = capsys.readouterr().err
    assert r.returncode == 2
    assert "unknown option" in err and "invalid percentile" not in err


def test_attached_short_values_still_work(pct):
    assert pct(["-p50"], b"1\n2\n").stdout.endswith(b"50pt: 1.0000\n")
    assert pct(["-kv", "-p=50"], b"v:1\n").stdout.endswith(b"50pt: 1.0000\n")


def test_messages_show_bytes_as_typed(pct, capsys):
    r = pct(["-p", os.fsdecode(b"\xff5")], b"1\n")
    assert r.returncode == 2
    assert "invalid percentile '\\xff5'" in capsys.readouterr().err
    r = pct(["-p", "\\x5"], b"1\n")
    err = capsys.readouterr().err
    assert "invalid percentile '\\x5'" in err and "\\\\" not in err
    r = pct(["-p", "50"], b"\xff5\n\\d\n1\n")
    assert b'first at <stdin>:1: "\\xff5" (invalid syntax)' in r.stderr


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ltsv", "json"]), st.sampled_from(["a", "b", None]),
                          st.one_of(st.integers(-50, 50).map(str), st.sampled_from(["-", "", "x"]),
                                    st.none())), max_size=60))
def test_ndjson_and_ltsv_give_the_same_result(rows):
    """The same records written as LTSV, NDJSON (numbers as numbers or strings) or both mixed."""
    import io

    from percentile.cli import main
    ltsv, js, mixed = [], [], []
    for fmt, g, v in rows:
        cols = ([f"g:{g}"] if g is not None else []) + ([f"v:{v}"] if v is not None else []) + ["x:y"]
        lt = "\t".join(cols)
        obj = {"x": "y"}
        if g is not None:
            obj["g"] = g
        if v is not None:
            obj["v"] = int(v) if v.lstrip("-").isdigit() and fmt == "json" else v
        j = json.dumps(obj)
        ltsv.append(lt)
        js.append(j)
        mixed.append(lt if fmt == "ltsv" else j)
    outs = []
    for data in (ltsv, js, mixed):
        out = io.BytesIO()
        main(["-k", "v", "-g", "g", "--json", "-p", "50,100", "-q"],
             stdin=io.BytesIO("\n".join(data).encode()), stdout=out, stderr=io.BytesIO())
        outs.append(out.getvalue())
    assert outs[0] == outs[1] == outs[2]
