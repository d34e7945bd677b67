"""The assessment from captured AWS CLI JSON (--offline), in process and through the real script.

The AMI-with-ephemeral case is tested here, from describe-images output as the AWS CLI prints it:
moto's register_image ignores the block device mappings it is given, and its run_instances fails
on a launch template with a NoDevice mapping, so neither can be staged on the moto server."""
from __future__ import annotations

import io
import json
import pathlib
import shutil
import subprocess
import sys

from ec2_recovery_check.assess import assess, check_status, recover_alarm
from ec2_recovery_check.cli import main

REGION = "ap-northeast-1"


def instance(iid, itype="t2.micro", ami="ami-0eph", lt=None, tenancy="default", vpc="vpc-1", auto="default"):
    i = {"InstanceId": iid, "InstanceType": itype, "ImageId": ami, "State": {"Name": "running"},
         "Placement": {"AvailabilityZone": f"{REGION}a", "Tenancy": tenancy},
         "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1", "Status": "attached"}}],
         "MaintenanceOptions": {"AutoRecovery": auto}, "Tags": [{"Key": "Name", "Value": iid}]}
    if vpc:
        i["VpcId"] = vpc
    if lt:
        i["Tags"] += [{"Key": "aws:ec2launchtemplate:id", "Value": lt[0]},
                      {"Key": "aws:ec2launchtemplate:version", "Value": str(lt[1])}]
    return i


IMAGES = {"Images": [
    {"ImageId": "ami-0eph", "Name": "legacy-with-ephemeral", "RootDeviceType": "ebs", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "VolumeSize": 8, "VolumeType": "gp2"}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
        {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral1"}]},
    {"ImageId": "ami-0ebs", "Name": "ebs-only", "RootDeviceType": "ebs", "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-2", "VolumeSize": 8, "VolumeType": "gp3"}}]}]}
LT_VERSIONS = {"LaunchTemplateVersions": [
    {"LaunchTemplateId": "lt-0both", "VersionNumber": 3, "LaunchTemplateData": {"BlockDeviceMappings": [
        {"DeviceName": "/dev/sdb", "NoDevice": ""}, {"DeviceName": "/dev/sdc", "NoDevice": ""}]}},
    {"LaunchTemplateId": "lt-0half", "VersionNumber": 1, "LaunchTemplateData": {"BlockDeviceMappings": [
        {"DeviceName": "/dev/sdb", "NoDevice": ""}]}}]}
TYPES = {"InstanceTypes": [{"InstanceType": "t2.micro", "AutoRecoverySupported": True},
                           {"InstanceType": "c4.large", "AutoRecoverySupported": True},
                           {"InstanceType": "m5d.large", "AutoRecoverySupported": False}]}
ALARMS = {"MetricAlarms": [
    {"AlarmName": "recover-web-2", "Dimensions": [{"Name": "InstanceId", "Value": "i-0000000000000002"}],
     "MetricName": "StatusCheckFailed_System", "AlarmActions": [f"arn:aws:automate:{REGION}:ec2:recover"]},
    {"AlarmName": "cpu-web-3", "Dimensions": [{"Name": "InstanceId", "Value": "i-0000000000000003"}],
     "MetricName": "CPUUtilization", "AlarmActions": ["arn:aws:sns:ap-northeast-1:123456789012:ops"]}]}
RESERVATIONS = {"Reservations": [{"Instances": [
    instance("i-0000000000000001"),                                    # the post's case: CLI launch
    instance("i-0000000000000002", lt=("lt-0both", 3)),                # both suppressed by its template
    instance("i-0000000000000003", ami="ami-0ebs", itype="c4.large", auto="disabled"),
    instance("i-0000000000000004", lt=("lt-0half", 1)),                # one of two suppressed
    instance("i-0000000000000005", ami="ami-0ebs", itype="m5d.large"),
    instance("i-0000000000000006", ami="ami-0ebs", tenancy="host"),
    instance("i-0000000000000007", ami="ami-0ebs", vpc=None),
    instance("i-0000000000000008", ami="ami-0gone"),
    instance("i-0000000000000009", lt=("lt-0missing", 2))]}]}


def captured(*docs, pretty=True) -> bytes:
    return "\n".join(json.dumps(d, indent=4 if pretty else None) for d in docs).encode()


def run_main(args, data):
    o, e = io.BytesIO(), io.BytesIO()
    rc = main(args, stdin=io.BytesIO(data), stdout=o, stderr=e)
    return rc, o.getvalue().decode(), e.getvalue().decode()


def test_every_reason_from_captured_cli_json():
    rc, out, err = run_main(["--offline"], captured(RESERVATIONS, IMAGES, LT_VERSIONS, TYPES, ALARMS))
    assert rc == 0, err
    got = {x["instance_id"][-1]: x for x in map(json.loads, out.splitlines())}
    assert [k for k, v in sorted(got.items()) if v["recoverable"]] == ["2", "3"]
    assert got["1"]["reasons"] == ["AMI ami-0eph maps instance store (ephemeral0 on /dev/sdb, ephemeral1 on "
                                   "/dev/sdc); describe-instances never shows launch-time overrides and the "
                                   "instance came from no launch template, so a NoDevice override cannot be confirmed"]
    assert got["4"]["reasons"] == ["AMI ami-0eph maps instance store (ephemeral1 on /dev/sdc); launch template "
                                   "lt-0half version 1 does not suppress them (NoDevice)"]
    assert "does not support automatic recovery" in got["5"]["reasons"][0]
    assert got["6"]["reasons"] == ["tenancy host (Dedicated Host): automatic recovery needs default or "
                                   "dedicated tenancy"]
    assert got["7"]["reasons"] == ["not in a VPC (EC2-Classic)"]
    assert "AMI ami-0gone not found" in got["8"]["reasons"][0]
    assert "launch template lt-0missing version 2 not found" in got["9"]["reasons"][0]
    assert got["2"]["recover_alarms"] == ["recover-web-2"] and got["3"]["recover_alarms"] == []
    assert (got["3"]["auto_recovery"], got["2"]["launch_template"]) == ("disabled", {"id": "lt-0both", "version": "3"})


def test_check_codes():
    both = captured(RESERVATIONS, IMAGES, LT_VERSIONS, TYPES, ALARMS, pretty=False)
    rc, out, _ = run_main(["--offline", "--check"], both)
    assert rc == 2 and out.startswith("EC2 RECOVERY CRITICAL: 7 of 9 cannot recover: i-0000000000000001 ")
    rc, out, _ = run_main(["--offline", "--check", "i-0000000000000002", "i-0000000000000003"], both)
    assert rc == 1 and out.splitlines()[0] == ("EC2 RECOVERY WARNING: 1 of 2 recoverable but unprotected: "
                                              "i-0000000000000003")
    rc, out, _ = run_main(["--offline", "--check", "i-0000000000000002"], both)
    assert rc == 0 and out.startswith("EC2 RECOVERY OK")
    rc, out, _ = run_main(["--offline", "--check", "i-00000000000000ff"], both)
    assert rc == 3 and out.startswith("EC2 RECOVERY UNKNOWN")
    rc, out, err = run_main(["--offline", "--check"], b"{not json")
    assert rc == 3 and out == "" and "-: line 1: not JSON" in err


def test_dry_run_prints_the_alarm_only_for_recoverable_unprotected():
    rc, out, _ = run_main(["--offline", "--dry-run", "--region", REGION],
                          captured(RESERVATIONS, IMAGES, LT_VERSIONS, TYPES, ALARMS))
    acts = {x["instance_id"][-1]: x["action"] for x in map(json.loads, out.splitlines())}
    assert acts["2"] is None and acts["1"] is None and acts["5"] is None
    assert acts["3"] == {"would_put_alarm": recover_alarm("i-0000000000000003", REGION)}
    a = acts["3"]["would_put_alarm"]
    assert a["AlarmActions"] == [f"arn:aws:automate:{REGION}:ec2:recover"] and a["MetricName"] == "StatusCheckFailed_System"


def test_tag_filter_and_auto_recovery_counts_as_protected():
    line = assess(instance("i-00000000000000aa", ami="ami-0ebs"), IMAGES["Images"][1], TYPES["InstanceTypes"][0],
                  {}, [])
    assert line["recoverable"] and check_status([line])[0] == 0     # simplified automatic recovery is on
    rc, out, _ = run_main(["--offline", "--tag", "Name=i-0000000000000006"], captured(RESERVATIONS, IMAGES, TYPES))
    assert rc == 0 and [json.loads(x)["instance_id"] for x in out.splitlines()] == ["i-0000000000000006"]


def test_process_usage_errors():
    exe = str(pathlib.Path(sys.executable).parent / "ec2-recovery-check")
    exe = exe if pathlib.Path(exe).exists() else shutil.which("ec2-recovery-check")
    for args in (["not-an-id"], ["--tag", "novalue"], ["--offline", "--apply"]):
        r = subprocess.run([exe, *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and b"ec2-recovery-check: error: " in r.stderr, (args, r)
