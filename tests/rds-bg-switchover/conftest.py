"""moto in server mode on 127.0.0.1 (RDS, CloudWatch) in this process, so that a test can also
shape what moto's models do (a switchover that stays in progress or fails); every subprocess and
client gets fake credentials and AWS_ENDPOINT_URL, so nothing can reach AWS
(moto_server and aws_env: tests/conftest.py; fake_env: tests/support/aws.py)."""
from __future__ import annotations

import uuid

import pytest
from support.aws import fake_env, use_fake_env

REGION = "us-east-1"
ACCOUNT = "123456789012"
FAKE_ENV = fake_env(REGION)


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    use_fake_env(monkeypatch, FAKE_ENV, cleared=("AWS_ENDPOINT_URL_RDS", "AWS_ENDPOINT_URL_CLOUDWATCH"))


def client(name, url):
    import boto3

    return boto3.client(name, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


class BG:
    """An RDS MySQL instance and a blue/green deployment of it (AVAILABLE in moto at once)."""

    def __init__(self, url):
        self.rds = client("rds", url)
        self.cw = client("cloudwatch", url)
        self.db = f"db-{uuid.uuid4().hex[:8]}"
        arn = self.rds.create_db_instance(DBInstanceIdentifier=self.db, Engine="mysql", EngineVersion="8.0.36",
                                          DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                                          MasterUsername="admin", MasterUserPassword="not-a-secret-1"
                                          )["DBInstance"]["DBInstanceArn"]
        self.name = f"upgrade-{self.db}"
        dep = self.rds.create_blue_green_deployment(BlueGreenDeploymentName=self.name, Source=arn,
                                                    TargetEngineVersion="8.4.3")["BlueGreenDeployment"]
        self.id = dep["BlueGreenDeploymentIdentifier"]

    def describe(self):
        return self.rds.describe_blue_green_deployments(BlueGreenDeploymentIdentifier=self.id)[
            "BlueGreenDeployments"][0]

    def green(self):
        return self.describe()["SwitchoverDetails"][0]["TargetMember"].rsplit(":", 1)[-1]

    def instances(self):
        return sorted(i["DBInstanceIdentifier"] for i in self.rds.describe_db_instances()["DBInstances"]
                      if i["DBInstanceIdentifier"].startswith(self.db))

    def model(self):
        from moto.rds.models import rds_backends

        return rds_backends[ACCOUNT][REGION].blue_green_deployments[self.id]


@pytest.fixture
def bg(moto_server):
    return BG(moto_server.url)
