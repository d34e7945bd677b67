"""Exact figures and the upstream bugs, on a fake /proc tree (--proc-root, --cgroup-root):
CPU share of all CPUs vs of one core, a reused PID, no time passed, cgroup memory limits."""
from __future__ import annotations

import json
import os
import re

import pytest
from lps_fakeproc import FakeProc, cgroup_limit, pagesize
from mackerel_plugin_linux_process_status import cli, core, state
from mackerel_plugin_linux_process_status.procfs import CLK_TCK, Procfs

PID = 4242


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(tmp_path / "work"))
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)
    fp = FakeProc(tmp_path / "proc", ncpu=8)
    (tmp_path / "cg").mkdir()
    return fp, tmp_path


def run(capsysbinary, fp_root, *args, cg=None):
    argv = ["--proc-root", str(fp_root), "--cgroup-root", str(cg or (fp_root.parent / "cg")), *args]
    rc = cli.main(argv)
    cap = capsysbinary.readouterr()
    return rc, cap.out, cap.err.decode()


def parse(out: bytes) -> dict[str, str]:
    d = {}
    for ln in out.decode().splitlines():
        name, value, epoch = ln.split("\t")
        assert re.fullmatch(r"\d+", epoch)
        d[name] = value
    return d


def test_first_run_then_cpu_share_of_all_cpus_and_of_one_core(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=100, stime=50, start=500)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "k")
    assert rc == 0
    assert err == "Notice: first time execution command\n"
    m = parse(out)
    assert "process-status.cpu_k.percentage" not in m
    # second run: the process used 0.5 s of CPU while the 8 CPUs together did 4 s
    fp.system(cpu_ticks=(1000 + 100, 0, 1000 + 100, 8000 + 200), uptime=100.5)
    fp.process(PID, utime=130, stime=70, start=500)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "k")
    assert rc == 0 and err == ""
    m = parse(out)
    assert m["process-status.cpu_k.percentage"] == "12.500000"
    # the same interval per core: 0.5 s of CPU in 0.5 s of wall time = one core busy
    fp.process(PID, utime=100, stime=50, start=500)
    fp.system(cpu_ticks=(1000, 0, 1000, 8000), uptime=100.0)
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "pc")
    fp.system(cpu_ticks=(1100, 0, 1100, 8200), uptime=100.5)
    fp.process(PID, utime=130, stime=70, start=500)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "pc", "--per-core")
    assert parse(out)["process-status.cpu_pc.percentage"] == "100.000000"


def test_upstream_metric_order_and_formats(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=1, start=5, rss_pages=1000, fds=7, nofile="1000")
    run(capsysbinary, fp.root, "-p", str(PID), "--key-prefix", "app")
    fp.system(cpu_ticks=(1000, 0, 1000, 8100), uptime=101.0)
    rc, out, err = run(capsysbinary, fp.root, "-p", str(PID), "--key-prefix", "app")
    names = [ln.split(b"\t")[0].decode() for ln in out.splitlines()]
    assert names == ["process-status.fds_app.count", "process-status.fds_app.max",
                     "process-status.fds_usage_app.percentage", "process-status.cpu_app.percentage",
                     "process-status.mem_app.used", "process-status.mem_app.max",
                     "process-status.mem_usage_app.percentage"]
    m = parse(out)
    assert m["process-status.fds_app.count"] == "7"
    assert m["process-status.fds_app.max"] == "1000"
    assert m["process-status.fds_usage_app.percentage"] == "0.700000"
    assert m["process-status.cpu_app.percentage"] == "0.000000"
    assert m["process-status.mem_app.used"] == str(1000 * pagesize())
    assert m["process-status.mem_app.max"] == str(fp.mem_total_kb * 1024)
    assert m["process-status.mem_usage_app.percentage"] == \
        f"{1000 * pagesize() * 100 / (fp.mem_total_kb * 1024):f}"


def test_reused_pid_is_not_diffed_against_the_old_process(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=5000, start=500)             # a long-running process
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "r")
    # it exits; a new process gets the same PID (later start time, far less CPU so far)
    fp.remove(PID)
    fp.process(PID, utime=10, start=9000)
    fp.system(cpu_ticks=(1100, 0, 1100, 8200), uptime=100.5)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "r")
    assert rc == 0
    m = parse(out)
    # upstream printed (10 - 5000) / 400 * 100 = -1247.5 here
    assert "process-status.cpu_r.percentage" not in m
    assert "another process" in err
    # and the run after that is a normal one against the new process
    fp.process(PID, utime=50, start=9000)
    fp.system(cpu_ticks=(1200, 0, 1200, 8400), uptime=101.0)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "r")
    assert parse(out)["process-status.cpu_r.percentage"] == "10.000000"


def test_no_time_passed_prints_no_nan_or_inf(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=10, start=5)
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "z")
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "z")
    assert rc == 0
    assert b"NaN" not in out and b"Inf" not in out and b"nan" not in out and b"inf" not in out
    assert b"cpu_z" not in out
    assert "no CPU time passed" in err


def test_reboot_between_runs_is_a_first_run(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=10, start=5)
    fp.system(cpu_ticks=(100000, 0, 100000, 800000), uptime=5000.0)
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "b")
    fp.system(cpu_ticks=(10, 0, 10, 80), uptime=1.0)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "b")
    assert rc == 0 and b"cpu_b" not in out and "first time" in err


def test_cgroup_v2_memory_max_is_the_tightest_ancestor_limit(env, capsysbinary):
    fp, tmp = env
    cg = tmp / "cg"
    fp.process(PID, utime=1, start=5, rss_pages=1000, cgroup="0::/system.slice/app.service\n")
    cgroup_limit(cg, "system.slice/app.service", "max")
    cgroup_limit(cg, "system.slice", str(512 * 1024 * 1024))
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "c")
    m = parse(out)
    assert m["process-status.mem_c.max"] == str(512 * 1024 * 1024)
    assert m["process-status.mem_usage_c.percentage"] == \
        f"{1000 * pagesize() * 100 / (512 * 1024 * 1024):f}"
    cgroup_limit(cg, "system.slice/app.service", str(256 * 1024 * 1024))
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "c")
    assert parse(out)["process-status.mem_c.max"] == str(256 * 1024 * 1024)


def test_cgroup_limit_above_memtotal_and_v1_unlimited(env, capsysbinary):
    fp, tmp = env
    cg = tmp / "cg"
    fp.process(PID, utime=1, start=5, cgroup="4:memory:/docker/abc\n0::/\n")
    cgroup_limit(cg, "docker/abc", "9223372036854771712", v1=True)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "v1")
    assert parse(out)["process-status.mem_v1.max"] == str(fp.mem_total_kb * 1024)
    cgroup_limit(cg, "docker/abc", str(64 * 1024 * 1024), v1=True)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "v1")
    assert parse(out)["process-status.mem_v1.max"] == str(64 * 1024 * 1024)


def test_unlimited_open_files_prints_the_count_only(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=1, start=5, fds=4, nofile="unlimited")
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "u")
    m = parse(out)
    assert m["process-status.fds_u.count"] == "4"
    assert "process-status.fds_u.max" not in m and "process-status.fds_usage_u.percentage" not in m


def test_unreadable_fd_dir_is_a_notice_not_a_failure(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=1, start=5)
    fd = fp.root / str(PID) / "fd"
    for f in fd.iterdir():
        f.unlink()
    fd.rmdir()
    fd.write_text("not a directory")
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "n")
    assert rc == 0
    m = parse(out)
    assert not any(k.startswith("process-status.fds") for k in m)
    assert "process-status.mem_n.used" in m
    assert "cannot count open files" in err


def test_comm_with_spaces_and_parentheses(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=1, start=5, comm="a) b (c", rss_pages=3)
    st = Procfs(str(fp.root)).stat(PID)
    assert st.comm == "a) b (c" and st.rss_pages == 3 and st.starttime == 5


def test_match_sums_and_counts_new_processes_with_their_whole_cpu(env, capsysbinary):
    fp, tmp = env
    fp.process(100, utime=100, start=50, cmdline=b"nginx: worker\0", fds=5, rss_pages=10)
    fp.process(101, utime=200, start=50, cmdline=b"nginx: worker\0", fds=6, rss_pages=20)
    fp.process(102, utime=999, start=50, cmdline=b"postgres\0", fds=7, rss_pages=30)
    rc, out, err = run(capsysbinary, fp.root, "--match", "^nginx", "--key-prefix", "ng")
    m = parse(out)
    assert m["process-status.processes_ng.count"] == "2"
    assert m["process-status.fds_ng.count"] == "11"
    assert m["process-status.mem_ng.used"] == str(30 * pagesize())
    # 101 exits, 103 starts after the first run (uptime 100 s -> start 100.2 s)
    fp.remove(101)
    fp.process(100, utime=140, start=50, cmdline=b"nginx: worker\0")
    fp.process(103, utime=20, start=int(100.2 * CLK_TCK), cmdline=b"nginx: worker\0")
    fp.system(cpu_ticks=(1100, 0, 1100, 8200), uptime=100.5)
    rc, out, err = run(capsysbinary, fp.root, "--match", "^nginx", "--key-prefix", "ng")
    m = parse(out)
    assert m["process-status.processes_ng.count"] == "2"
    # (40 + 20 ticks) / 400 ticks
    assert m["process-status.cpu_ng.percentage"] == "15.000000"


def test_match_per_process(env, capsysbinary):
    fp, tmp = env
    fp.process(100, utime=1, start=50, cmdline=b"worker\0")
    fp.process(101, utime=1, start=50, cmdline=b"worker\0")
    rc, out, err = run(capsysbinary, fp.root, "--match", "worker", "--per-process",
                       "--key-prefix", "w")
    m = parse(out)
    assert "process-status.mem_w_100.used" in m and "process-status.mem_w_101.used" in m
    assert err.count("first time") == 1  # one notice, not one per process


def test_match_nothing_prints_zero_processes(env, capsysbinary):
    fp, tmp = env
    rc, out, err = run(capsysbinary, fp.root, "--match", "nothing-like-this", "--key-prefix", "q")
    assert rc == 0
    m = parse(out)
    assert m["process-status.processes_q.count"] == "0"
    # nothing uses memory, but there is no limit to speak of either: no "max 0" (it was printed)
    assert m["process-status.mem_q.used"] == "0"
    assert "process-status.mem_q.max" not in m and "process-status.mem_usage_q.percentage" not in m


def test_extended_counters_are_rates(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=1, start=5, threads=7)
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "e", "--extended")
    d = fp.root / str(PID)
    (d / "status").write_text("voluntary_ctxt_switches:\t30\nnonvoluntary_ctxt_switches:\t4\n")
    (d / "io").write_text("read_bytes: 8192\nwrite_bytes: 16384\n")
    fp.system(cpu_ticks=(1100, 0, 1100, 8200), uptime=102.0)
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "e", "--extended")
    m = parse(out)
    assert m["process-status.threads_e.count"] == "7"
    assert m["process-status.ctx_switches_e.voluntary"] == "10.000000"      # 20 in 2 s
    assert m["process-status.ctx_switches_e.nonvoluntary"] == "1.000000"
    assert m["process-status.io_e.read_bytes"] == "2048.000000"
    assert m["process-status.io_e.write_bytes"] == "4096.000000"


def test_state_file_name_content_and_corruption(env, capsysbinary):
    fp, tmp = env
    fp.process(PID, utime=1, start=5)
    # a prefix outside the metric-name characters is a usage error (issue 14.11; was quoted)
    assert run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "a/b")[0] == 3
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "a.b-c")
    work = tmp / "work"
    files = os.listdir(work)
    assert files == [f"{os.getuid()}-process-status-v3-a.b-c-{PID}"]
    data = json.loads((work / files[0]).read_text())
    assert data["procs"][str(PID)]["start"] == 5
    # a torn or foreign state file is a first run, never a crash
    (work / files[0]).write_text('{"now": 1, "syscpu": ')
    rc, out, err = run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "a.b-c")
    assert rc == 0 and "first time" in err
    # an old temporary file left by a kill -9 is removed by the next run
    stale = work / (files[0] + ".tmpXYZ")
    stale.write_text("{}")
    os.utime(stale, (1, 1))
    run(capsysbinary, fp.root, "--pid", str(PID), "--key-prefix", "a.b-c")
    assert sorted(os.listdir(work)) == [files[0]]


def test_group_delta_ignores_a_state_from_another_layout():
    snap = core.Snapshot(epoch=1, uptime=10, syscpu=10, ncpu=1)
    d = core.group_delta({"now": 1, "syscpu": 1, "cpu": 1}, snap, [], count_new=False)
    assert d.cpu is None and d.notice == core.FIRST_RUN_NOTICE
    assert core.cpu_percentage(core.Delta(cpu=1.0, dsys=0.0), 4, False) is None


def test_state_save_is_atomic(tmp_path):
    p = str(tmp_path / "s")
    state.save(p, {"version": 3, "x": 1})
    assert state.load(p) == {"version": 3, "x": 1}
    assert state.load(str(tmp_path / "missing")) is None


def test_graph_definition_covers_the_metrics(env, capsysbinary, monkeypatch):
    fp, tmp = env
    fp.process(PID, utime=1, start=5)
    run(capsysbinary, fp.root, "--match", "fake", "--key-prefix", "g", "--extended")
    fp.system(cpu_ticks=(1100, 0, 1100, 8200), uptime=102.0)
    rc, out, err = run(capsysbinary, fp.root, "--match", "fake", "--key-prefix", "g", "--extended")
    names = list(parse(out))
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    rc, meta, err = run(capsysbinary, fp.root, "--match", "fake", "--key-prefix", "g", "--extended")
    assert rc == 0
    head, body = meta.decode().split("\n", 1)
    assert head == "# mackerel-agent-plugin"
    graphs = json.loads(body)["graphs"]
    assert len(names) == 13
    for n in names:
        graph, metric = n.rsplit(".", 1)
        assert metric in [m["name"] for m in graphs[graph]["metrics"]], n


def test_ctrl_c_while_parsing_arguments_is_130_without_traceback(monkeypatch):
    from mackerel_plugin_linux_process_status import cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    try:
        rc = cli.main(["--pid", "1", "--key-prefix", "x"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): a traceback for the user")
    assert rc == 130
