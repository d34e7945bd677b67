"""moto in server mode on 127.0.0.1 (DynamoDB), started once for the session; every subprocess gets
fake credentials and AWS_ENDPOINT_URL pointing at it, so nothing can reach AWS."""
from __future__ import annotations

import uuid

import pytest
from support.aws import fake_env, use_fake_env

REGION = "us-east-1"
FAKE_ENV = fake_env(REGION)   # moto_server and aws_env: tests/conftest.py


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    use_fake_env(monkeypatch, FAKE_ENV, cleared=("AWS_ENDPOINT_URL_DYNAMODB", "AWS_CA_BUNDLE"))


@pytest.fixture
def ddb(moto_server):
    import boto3

    return boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server.url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def make_table(ddb, *, range_key=False, rcu=100, on_demand=False, name=None):
    name = name or f"t-{uuid.uuid4().hex[:8]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    kw = {"BillingMode": "PAY_PER_REQUEST"} if on_demand else {
        "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": 100}}
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs, **kw)
    return name


def put_all(ddb, table, items):
    for i in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]})
