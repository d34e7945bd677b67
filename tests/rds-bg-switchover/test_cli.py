"""rds-bg-switchover end to end: the console script as a subprocess against moto's server (RDS,
CloudWatch) on 127.0.0.1 through AWS_ENDPOINT_URL. moto implements the whole blue/green flow and
CloudWatch's GetMetricStatistics, so no call is stubbed."""
from __future__ import annotations

import datetime
import io
import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from rds_bg_switchover.cli import main


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "rds-bg-switchover"
    return str(p) if p.exists() else shutil.which("rds-bg-switchover")


def run(args, env):
    """The console script as a subprocess."""
    r = subprocess.run([exe(), *args], env=env, capture_output=True, timeout=60)
    return r.returncode, [json.loads(x) for x in r.stdout.splitlines()], r.stderr.decode()


def call(args, env=None):
    """main() in this process, with byte streams (same results, without a new interpreter and a new
    boto3 import each time: keeps the suite fast on a busy machine)."""
    out, err = io.BytesIO(), io.BytesIO()
    rc = main(list(args), stdout=out, stderr=err)
    return rc, [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue().decode()


def test_create_available_switchover_completed_then_refused(aws_env, bg):
    rc, out, err = run(["--name", bg.name, "--wait", "--poll", "0.1", "--timeout", "60"], aws_env)
    assert rc == 0, err
    assert [o["event"] for o in out] == ["deployment", "switchover", "status"]
    assert out[0]["id"] == bg.id and out[0]["status"] == "AVAILABLE"
    assert out[0]["members"][0]["status"] == "AVAILABLE"
    assert (out[1]["status"], out[1]["timeout"]) == ("SWITCHOVER_IN_PROGRESS", 60)
    assert (out[2]["previous"], out[2]["status"]) == ("SWITCHOVER_IN_PROGRESS", "SWITCHOVER_COMPLETED")
    # the green instance now carries the old name; the old blue one is renamed
    assert bg.instances() == [bg.db, f"{bg.db}-old1"]
    # a second switchover is refused, and says why
    rc, out, err = run(["--id", bg.id], aws_env)
    assert rc == 3, err
    assert out[-1]["event"] == "refused"
    assert "deployment status SWITCHOVER_COMPLETED, not AVAILABLE" in out[-1]["reasons"]
    assert "refused" in err and "Traceback" not in err


def test_dry_run_switches_nothing(aws_env, bg):
    rc, out, err = call(["--id", bg.id, "--dry-run"], aws_env)
    assert rc == 0, err
    assert out[-1] == {"event": "dry-run", "id": bg.id, "would": "switchover_blue_green_deployment",
                       "timeout": 300}
    assert bg.describe()["Status"] == "AVAILABLE"


def test_switchover_without_wait(aws_env, bg):
    rc, out, err = call(["--id", bg.id], aws_env)
    assert rc == 0 and out[-1]["event"] == "switchover", err
    assert bg.describe()["Status"] == "SWITCHOVER_COMPLETED"


def test_member_not_available_is_named(aws_env, bg):
    bg.model().switchover_details[0].Status = "MISSING_TARGET"
    rc, out, err = call(["--id", bg.id], aws_env)
    assert rc == 3, err
    assert any(r.endswith("is MISSING_TARGET") for r in out[-1]["reasons"]), out
    assert bg.describe()["Status"] == "AVAILABLE"


def test_unknown_id_and_name(aws_env, moto_server):
    rc, out, err = run(["--id", "bgd-0000000000000000"], aws_env)
    assert (rc, out) == (4, []) and "no blue/green deployment bgd-0000000000000000" in err
    rc, out, err = call(["--name", "no-such-deployment"])
    assert (rc, out) == (4, []) and "named no-such-deployment" in err


def test_list(aws_env, bg):
    rc, out, err = call(["--list"], aws_env)
    assert rc == 0, err
    mine = [o for o in out if o["id"] == bg.id]
    assert len(mine) == 1 and mine[0]["name"] == bg.name and mine[0]["event"] == "deployment"


def put_lag(bg, seconds):
    bg.cw.put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Value": seconds, "Unit": "Seconds",
        "Timestamp": datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30),
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": bg.green()}]}])


def test_replica_lag(aws_env, bg):
    rc, out, _ = call(["--id", bg.id, "--check-replica-lag", "5", "--dry-run"], aws_env)
    assert rc == 3 and out[-1]["reasons"] == [f"no recent ReplicaLag datapoint for {bg.green()}"]
    put_lag(bg, 42)
    rc, out, _ = call(["--id", bg.id, "--check-replica-lag", "5"], aws_env)
    assert rc == 3 and out[-2]["lags"] == {bg.green(): 42.0}
    assert out[-1]["reasons"] == [f"ReplicaLag of {bg.green()} is 42 s, more than 5 s"]
    assert bg.describe()["Status"] == "AVAILABLE"
    rc, out, err = call(["--id", bg.id, "--check-replica-lag", "60", "--dry-run"], aws_env)
    assert rc == 0 and out[-1]["event"] == "dry-run", err


@pytest.fixture
def switchover_ends_in(monkeypatch):
    from moto.rds.models import BlueGreenDeployment

    def shape(status):
        def switchover(self):
            self.set_status(self.SupportedStates[status])
        monkeypatch.setattr(BlueGreenDeployment, "switchover", switchover)
    return shape


def test_failed_switchover_is_exit_5(aws_env, bg, switchover_ends_in):
    switchover_ends_in("SWITCHOVER_FAILED")
    rc, out, err = call(["--id", bg.id, "--wait", "--poll", "0.1"], aws_env)
    assert rc == 5, err
    assert out[-1]["status"] == "SWITCHOVER_FAILED" and "did not complete" in err


def test_deadline_is_exit_6(aws_env, bg, switchover_ends_in):
    switchover_ends_in("SWITCHOVER_IN_PROGRESS")
    rc, out, err = call(["--id", bg.id, "--wait", "--poll", "0.1", "--deadline", "0.5"], aws_env)
    assert rc == 6, err
    assert out[-1]["event"] == "deadline" and out[-1]["status"] == "SWITCHOVER_IN_PROGRESS"


def test_api_error_and_usage(aws_env):
    rc, out, err = run(["--list"], {**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert rc == 1 and "AWS error" in err and "Traceback" not in err
    r = subprocess.run([exe(), "--timeout", "10", "--id", "x"], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"rds-bg-switchover: error: " in r.stderr, r.stderr


@pytest.mark.parametrize("bad", [["--list", "--wait"], [], ["--id", "a", "--name", "b"],
                                 ["--poll", "nan", "--id", "x"], ["--timeout", "29", "--id", "x"]])
def test_usage_errors(bad, capsys):
    assert call(bad)[0] == 2
    assert "rds-bg-switchover: error: " in capsys.readouterr().err
    r = subprocess.run([exe(), "--version"], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"rds-bg-switchover ")


def test_in_process_main(aws_env, bg):
    out, err = io.BytesIO(), io.BytesIO()
    assert main(["--id", bg.id, "--dry-run"], stdout=out, stderr=err) == 0, err.getvalue()
    assert json.loads(out.getvalue().splitlines()[-1])["event"] == "dry-run"


def test_a_switchover_in_progress_is_followed_not_started_again(aws_env, bg, switchover_ends_in, monkeypatch):
    switchover_ends_in("SWITCHOVER_IN_PROGRESS")
    assert call(["--id", bg.id])[0] == 0                  # started; this run does not wait
    rc, out, err = call(["--id", bg.id])                  # without --wait: refused
    assert rc == 3 and "deployment status SWITCHOVER_IN_PROGRESS, not AVAILABLE" in out[-1]["reasons"]
    rc, out, err = call(["--id", bg.id, "--wait", "--poll", "0.05", "--deadline", "0.3"])
    assert rc == 6 and [o["event"] for o in out] == ["deployment", "attach", "deadline"], out
    from moto.rds.models import RDSBackend

    model, seen = bg.model(), []
    real = RDSBackend.describe_blue_green_deployments

    def describe(self, *a, **kw):   # the third look (the second poll) sees it completed
        seen.append(1)
        if len(seen) == 3:
            model.set_status(model.SupportedStates.SWITCHOVER_COMPLETED)
        return real(self, *a, **kw)

    monkeypatch.setattr(RDSBackend, "describe_blue_green_deployments", describe)
    rc, out, err = call(["--id", bg.id, "--wait", "--poll", "0.05", "--deadline", "10"])
    assert rc == 0 and [o["event"] for o in out] == ["deployment", "attach", "status"], out
    assert out[-1]["status"] == "SWITCHOVER_COMPLETED" and len(seen) == 3
