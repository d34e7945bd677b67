"""asg-unhealthy end to end: the console script as a subprocess against moto's server (Auto
Scaling, EC2) on 127.0.0.1, through AWS_ENDPOINT_URL; and the Lambda handler in process."""
from __future__ import annotations

import io
import json
import pathlib
import shutil
import subprocess
import sys

import aws_messages as msg
import pytest
from asg_unhealthy.cli import main


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "asg-unhealthy"
    return str(p) if p.exists() else shutil.which("asg-unhealthy")


def run(args, env, input=b""):
    """The console script as a subprocess."""
    r = subprocess.run([exe(), *args], input=input, env=env, capture_output=True, timeout=60)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    return r.returncode, lines, r.stderr.decode()


def call(args, input=b""):
    """main() in this process, with byte streams (same results, without a new interpreter and a new
    boto3 import each time: keeps the suite fast on a busy machine)."""
    out, err = io.BytesIO(), io.BytesIO()
    rc = main(list(args), stdin=io.BytesIO(input), stdout=out, stderr=err)
    return rc, [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue().decode()


def test_acted_already_unhealthy_not_in_group_unknown_ok_and_malformed(aws_env, fleet):
    a, b = fleet.instances
    data = (msg.ndjson(msg.alarm(a), msg.alarm(fleet.loner), msg.alarm("i-0000000000deadbee"),
                       msg.alarm(b, state="OK")) + b"{this is not json\n"
            + msg.ndjson(msg.alarm(a), {"hello": "world"}, msg.alarm(b)))
    rc, out, err = run([], aws_env, data)
    assert rc == 65, err
    got = [(o["source"], o.get("instance"), o["result"], o["reason"]) for o in out]
    assert got == [
        ("-:1", a, "acted", "set Unhealthy"),
        ("-:2", fleet.loner, "skipped", "not in an Auto Scaling group (or no such instance)"),
        ("-:3", "i-0000000000deadbee", "skipped", "not in an Auto Scaling group (or no such instance)"),
        ("-:4", b, "skipped", "state OK, not ALARM"),
        ("-:5", None, "malformed", got[4][3]),
        ("-:6", a, "skipped", "already unhealthy"),
        ("-:7", None, "malformed", got[6][3]),
        ("-:8", b, "acted", "set Unhealthy"),
    ]
    assert out[0]["group"] == fleet.group and out[0]["region"] == "us-west-2"
    assert out[0]["grace_period_respected"] is True
    assert fleet.health(a) == fleet.health(b) == "Unhealthy"
    assert "-:5: not JSON" in err and "and 1 more malformed message" in err
    assert "Traceback" not in err
    # idempotent: the same input again changes nothing and says so
    rc, out, _ = run([], aws_env, msg.ndjson(msg.alarm(a), msg.alarm(b)))
    assert rc == 0 and [o["reason"] for o in out] == ["already unhealthy"] * 2


@pytest.mark.parametrize("shape", ["sns", "lambda", "eventbridge", "metric_math", "pretty"])
def test_each_shape_acts(aws_env, fleet, shape):
    iid = fleet.instances[0]
    doc = {"sns": lambda: msg.sns_envelope(msg.alarm(iid)), "lambda": lambda: msg.lambda_event(msg.alarm(iid)),
           "eventbridge": lambda: msg.eventbridge(iid), "metric_math": lambda: msg.metric_math(iid),
           "pretty": lambda: msg.alarm(iid)}[shape]()
    data = json.dumps(doc, indent=2 if shape == "pretty" else None).encode()
    o, e = io.BytesIO(), io.BytesIO()   # in process: the subprocess paths are tested above
    rc = main(["--no-grace"], stdin=io.BytesIO(data), stdout=o, stderr=e)
    assert rc == 0, e.getvalue()
    out = [json.loads(x) for x in o.getvalue().splitlines()]
    assert [(o["instance"], o["result"]) for o in out] == [(iid, "acted")]
    assert out[0]["grace_period_respected"] is False
    assert fleet.health(iid) == "Unhealthy" and fleet.health(fleet.instances[1]) == "Healthy"


def test_dry_run_and_expect_group_change_nothing(aws_env, fleet):
    iid = fleet.instances[0]
    rc, out, _ = call(["--dry-run"], msg.ndjson(msg.alarm(iid)))
    assert rc == 0 and out[0]["result"] == "skipped" and out[0]["reason"].startswith("dry-run")
    rc, out, _ = call(["--expect-group", "other"], msg.ndjson(msg.alarm(iid)))
    assert rc == 0 and out[0]["reason"] == f"in group {fleet.group}, not other"
    assert fleet.health(iid) == "Healthy"
    rc, out, _ = call(["--expect-group", fleet.group], msg.ndjson(msg.alarm(iid)))
    assert rc == 0 and out[0]["result"] == "acted"


def test_standby_instance_is_skipped(aws_env, fleet):
    iid = fleet.instances[0]
    fleet.asg.enter_standby(AutoScalingGroupName=fleet.group, InstanceIds=[iid],
                            ShouldDecrementDesiredCapacity=True)
    rc, out, _ = call([], msg.ndjson(msg.alarm(iid)))
    assert rc == 0 and out[0]["result"] == "skipped" and "Standby" in out[0]["reason"]


def test_region_from_the_arn(aws_env, fleet):
    # the same instance named by an alarm of another region is not found there
    iid = fleet.instances[0]
    rc, out, _ = call([], msg.ndjson(msg.alarm(iid, region="us-east-1")))
    assert rc == 0 and out[0]["result"] == "skipped" and out[0]["region"] == "us-east-1"
    assert fleet.health(iid) == "Healthy"


def test_files_in_order_and_a_missing_one(aws_env, fleet, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_bytes(msg.ndjson(msg.alarm(fleet.instances[0])))
    b.write_bytes(json.dumps(msg.lambda_event(msg.alarm(fleet.instances[1]))).encode())
    rc, out, err = run([str(a), str(tmp_path / "missing"), str(b)], aws_env)
    assert rc == 1
    assert f"asg-unhealthy: {tmp_path / 'missing'}: No such file or directory" in err
    assert [(o["source"], o["result"]) for o in out] == [(f"{a}:1", "acted"), (f"{b}:1", "acted")]


def test_api_error_is_exit_1(aws_env, fleet):
    env = {**aws_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}   # nothing listens there
    rc, out, err = run([], env, msg.ndjson(msg.alarm(fleet.instances[0]), msg.alarm("i-2", state="OK")))
    assert rc == 1, err
    assert [o["result"] for o in out] == ["error", "skipped"]
    assert "AWS error" in err and "Traceback" not in err


def test_no_aws_call_without_an_alarm_and_closed_pipe(tmp_path):
    # OK alarms and malformed input need no endpoint at all (none is set here)
    rc, out, err = run([], None, msg.ndjson(msg.alarm("i-1", state="OK")) + b"{\"hello\": 1}\n")
    assert rc == 65 and [o["result"] for o in out] == ["skipped", "malformed"], err
    p = subprocess.Popen([exe()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    _, err = p.communicate(msg.ndjson(*[msg.alarm(f"i-{i}", state="OK") for i in range(5_000)]), timeout=60)
    assert (p.returncode, err) == (141, b"")


def test_usage_and_version():
    r = subprocess.run([exe(), "--version"], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"asg-unhealthy "), r
    r = subprocess.run([exe(), "--no-such-option"], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"asg-unhealthy: error: " in r.stderr, r


def test_in_process_main_with_byte_streams():
    out, err = io.BytesIO(), io.BytesIO()
    rc = main([], stdin=io.BytesIO(msg.ndjson(msg.eventbridge(state="OK"))), stdout=out, stderr=err)
    assert rc == 0 and json.loads(out.getvalue())["reason"] == "state OK, not ALARM"


def test_lambda_handler(aws_env, fleet, monkeypatch, capsys):
    from asg_unhealthy.handler import handler

    a, b = fleet.instances
    res = handler(msg.lambda_event(msg.alarm(a), msg.alarm(b, state="OK")), None)
    assert [(r["instance"], r["result"]) for r in res["results"]] == [(a, "acted"), (b, "skipped")]
    assert len(capsys.readouterr().out.splitlines()) == 2
    monkeypatch.setenv("ASG_UNHEALTHY_DRY_RUN", "1")
    res = handler(msg.lambda_event(msg.alarm(b)), None)
    assert res["results"][0]["reason"].startswith("dry-run") and fleet.health(b) == "Healthy"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="AWS error"):
        handler(msg.lambda_event(msg.alarm("i-0000000000000abcd")), None)
