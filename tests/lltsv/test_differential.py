"""Differential test: on sane input our stdout is byte-identical to Debian's lltsv (the Go upstream
0.7.0), for the options both understand. Only stdout and the exit status are compared: upstream
writes per-record warnings with timestamps on stderr where we write one summary."""
import pytest

CASES = [
    [],
    ["-K"],
    ["-k", "reqtime", "-K"],
    ["-k", "status,reqtime,uri"],
    ["-k", "time"],
    ["-k", "uri,nope,status", "-K"],
    ["-k", "apptime,apptime,host"],
    ["-i", "ua,req,time"],
    ["-i", "ua", "-K"],
    ["-f", "reqtime > 0.5"],
    ["-f", "reqtime >= 0.2", "-k", "reqtime,status", "-K"],
    ["-f", "reqtime < 0.01", "-f", "status != 200"],
    ["-f", "apptime <= 0.02", "-k", "apptime"],
    ["-f", "status == 499", "-k", "reqtime", "-K"],
    ["-f", "uri =~ ^/api/items", "-k", "uri"],
    ["-f", "uri !~ ^/static", "-f", "method == PUT"],
    ["-f", "method ==* get", "-f", "reqtime > 0.3", "-k", "method,reqtime"],
    ["-f", "method !=* GeT", "-k", "method"],
    ["-f", "ua =~* CURL", "-k", "ua"],
    ["-f", "ua !~* mozilla", "-k", "ua", "-K"],
    ["-f", "cache != HIT", "-i", "ua"],
    ["-k", "uri,reqtime,apptime,wait_ms", "-e", "wait_ms = (reqtime - apptime) * 1000"],
    ["-k", "status,reqtime", "-e", "reqtime = reqtime * 1000", "-f", "reqtime > 200"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) or "all" for c in CASES])
def test_same_stdout_as_debian_lltsv_on_generated_log(args, access_log, debian_lltsv, ours_bin, run_cmd):
    ref = run_cmd([debian_lltsv, *args, access_log])
    ours = run_cmd([ours_bin, *args, access_log])
    assert ref.returncode == 0
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    assert ref.stdout.count(b"\n") > 10 or args[:1] == ["-f"]


HANDMADE = (b"foo:aaa\tbar:bbb\tbaz:ccc\n"
            b"hello world\n"
            b"\n"
            b"foo:1\tjunk\t:empty\tbar:\n"
            b"a:1\tb:2\ta:3\n"
            b"time:12:00:01\tx:\xff\xfe\n"
            b"crlf:1\tfoo:x\r\n"
            b"reqtime:1\tstatus:200\turi:/foo\n"
            b"reqtime:abc\tstatus:404\turi:/BAZ\n"
            b"last:noeol")

HAND_CASES = [[], ["-K"], ["-k", "foo,bar"], ["-k", "a,foo,nope", "-K"], ["-i", "foo"],
              ["-f", "uri =~* ^/ba"], ["-f", "foo == aaa"], ["-f", "foo != aaa", "-k", "foo"],
              ["-k", "time,x"], ["-f", "reqtime > 0"]]


@pytest.mark.parametrize("args", HAND_CASES, ids=[" ".join(c) or "all" for c in HAND_CASES])
def test_same_stdout_as_debian_lltsv_on_odd_lines(args, tmp_path, debian_lltsv, ours_bin, run_cmd):
    f = tmp_path / "odd.ltsv"
    f.write_bytes(HANDMADE)
    ref = run_cmd([debian_lltsv, *args, f])
    ours = run_cmd([ours_bin, *args, f])
    assert (ours.returncode, ours.stdout) == (ref.returncode, ref.stdout)
    # and through stdin
    ours_in = run_cmd([ours_bin, *args], input=HANDMADE)
    assert ours_in.stdout == ref.stdout
