"""moto in server mode on 127.0.0.1 (DynamoDB), started once for the session; every subprocess gets
fake credentials and AWS_ENDPOINT_URL pointing at it, so nothing can reach AWS."""
from __future__ import annotations

import os
import uuid

import pytest

REGION = "us-east-1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
}


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="session")
def moto_server():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    server.url = f"http://{host}:{port}"
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    return {**os.environ, **FAKE_ENV, "AWS_ENDPOINT_URL": moto_server.url}


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
