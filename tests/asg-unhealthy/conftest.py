"""moto in server mode on 127.0.0.1 (Auto Scaling, EC2), started once for the session; every
subprocess and client gets fake credentials and AWS_ENDPOINT_URL, so nothing can reach AWS
(moto_server and aws_env: tests/conftest.py; fake_env: tests/support/aws.py)."""
from __future__ import annotations

import uuid

import pytest
from support.aws import fake_env, use_fake_env

REGION = "us-west-2"        # where the alarms' ARNs say the instances are
OTHER_REGION = "us-east-1"  # the environment's default region: a lookup there finds nothing

FAKE_ENV = fake_env(OTHER_REGION)


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    use_fake_env(monkeypatch, FAKE_ENV, cleared=("AWS_ENDPOINT_URL_AUTO_SCALING",))


def _client(name, url, region=REGION):
    import boto3

    return boto3.client(name, region_name=region, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


class Fleet:
    """An Auto Scaling group of two InService instances in REGION, plus one EC2 instance that is
    in no group."""

    def __init__(self, url):
        self.asg = _client("autoscaling", url)
        self.ec2 = _client("ec2", url)
        self.group = f"web-{uuid.uuid4().hex[:8]}"
        lt = self.ec2.create_launch_template(LaunchTemplateName=f"lt-{self.group}", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=self.group, MinSize=2, MaxSize=4, DesiredCapacity=2,
            AvailabilityZones=[f"{REGION}a"], HealthCheckGracePeriod=300,
            LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"})
        self.instances = [i["InstanceId"] for i in self.asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.group])["AutoScalingGroups"][0]["Instances"]]
        self.loner = self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
            "Instances"][0]["InstanceId"]

    def health(self, iid):
        got = self.asg.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"]
        return got[0]["HealthStatus"] if got else None


@pytest.fixture
def fleet(moto_server):
    return Fleet(moto_server.url)
