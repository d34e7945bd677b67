"""moto in server mode on 127.0.0.1 (EC2, CloudWatch), started once for the session; every subprocess gets
fake credentials and AWS_ENDPOINT_URL pointing at it, so nothing can reach AWS."""
from __future__ import annotations

import pytest
from support.aws import fake_env, use_fake_env

REGION = "us-east-1"
FAKE_ENV = fake_env(REGION)   # moto_server and aws_env: tests/conftest.py


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    use_fake_env(monkeypatch, FAKE_ENV, cleared=("AWS_ENDPOINT_URL_EC2", "AWS_CA_BUNDLE"))


def client(name, url):
    import boto3

    return boto3.client(name, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")
