"""ec2-recovery-check against moto's server (EC2, CloudWatch) on 127.0.0.1, through the real script."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

from conftest import REGION, client


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "ec2-recovery-check"
    return str(p) if p.exists() else shutil.which("ec2-recovery-check")


def run(args, env):
    r = subprocess.run([exe(), *args], env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_apply_puts_one_alarm_per_recoverable_instance_idempotently(aws_env, moto_server):
    ec2, cw = client("ec2", moto_server.url), client("cloudwatch", moto_server.url)
    lt = ec2.create_launch_template(LaunchTemplateName="web-ert", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t2.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    ok = ec2.run_instances(LaunchTemplate={"LaunchTemplateId": lt}, MinCount=1, MaxCount=1,
                           TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "ert"}]}]
                           )["Instances"][0]["InstanceId"]
    bad = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="m5d.large", MinCount=1, MaxCount=1,
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "ert"}]}]
                            )["Instances"][0]["InstanceId"]
    # moto leaves MaintenanceOptions out: unprotected until an alarm exists
    rc, out, err = run(["--tag", "role=ert", "--check", "--dry-run"], aws_env)
    assert rc == 2 and out.splitlines()[0] == f"EC2 RECOVERY CRITICAL: 1 of 2 cannot recover: {bad}", err
    assert cw.describe_alarms()["MetricAlarms"] == []
    rc, out, err = run([ok, "--check"], aws_env)
    assert rc == 1 and "recoverable but unprotected" in out
    rc, out, err = run(["--tag", "role=ert", "--apply"], aws_env)
    assert rc == 0, err
    lines = {x["instance_id"]: x for x in map(json.loads, out.splitlines())}
    assert lines[ok]["action"] == {"put_alarm": f"ec2-recovery-check-{ok}"} and lines[bad]["action"] is None
    assert lines[ok]["launch_template"] == {"id": lt, "version": "1"}
    alarms = cw.describe_alarms()["MetricAlarms"]
    assert [(a["AlarmName"], a["AlarmActions"], a["Dimensions"]) for a in alarms] == [
        (f"ec2-recovery-check-{ok}", [f"arn:aws:automate:{REGION}:ec2:recover"], [{"Name": "InstanceId", "Value": ok}])]
    rc, out, _ = run(["--tag", "role=ert", "--apply"], aws_env)       # a rerun changes nothing
    assert rc == 0 and all(json.loads(x)["action"] is None for x in out.splitlines())
    assert len(cw.describe_alarms()["MetricAlarms"]) == 1
    rc, out, _ = run([ok, "--check"], aws_env)
    assert rc == 0 and out.startswith("EC2 RECOVERY OK")


def test_api_error_is_one_line_and_exit_1_or_3(aws_env):
    rc, out, err = run(["i-0123456789abcdef0"], aws_env)
    assert rc == 1 and out == "" and err.startswith("ec2-recovery-check: DescribeInstances: ")
    assert err.count("\n") == 1
    rc, _, _ = run(["i-0123456789abcdef0", "--check"], aws_env)
    assert rc == 3


def test_help_imports_no_boto3():
    code = ("import sys, runpy; sys.argv = ['ec2-recovery-check', '--help']\n"
            "try:\n    runpy.run_module('ec2_recovery_check.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('boto3', 'botocore') if m in sys.modules], file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr
