"""The two DynamoDB calls: DescribeTable through botocore's client, Scan as a signed HTTP POST
whose JSON body is read with json.loads.

Why Scan does not go through the client: botocore walks every attribute value of a response
through its shape model in Python, which costs more CPU than everything else the export does;
the wire format already is the DynamoDB JSON the export writes. botocore still finds the region,
the credentials (refreshed when they expire), the endpoint (AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_DYNAMODB, the profile's endpoint_url) and the CA bundle, and signs (SigV4).
Imported only on the path that calls AWS.
"""
from __future__ import annotations

import json
import os
import random
import time

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError

THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
             "LimitExceededException"}


class AwsError(Exception):
    """A failure worth one line: `ddb-export: <message>`, exit 1."""


class Dynamo:
    def __init__(self, region=None, profile=None, endpoint_url=None, pool=4):
        import urllib3
        from botocore.httpsession import get_cert_path

        try:
            self.session = botocore.session.Session(profile=profile)
            # the AWS CLI's order: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
            self.client = self.session.create_client("dynamodb", region_name=region or os.environ.get("AWS_REGION") or None,
                                                     endpoint_url=endpoint_url)
        except BotoCoreError as e:
            raise AwsError(str(e)) from None
        self.region = self.client.meta.region_name
        self.url = self.client.meta.endpoint_url
        if not self.region:
            raise AwsError("no region: give --region or set AWS_REGION (or a profile's region)")
        self.creds = self.session.get_credentials()
        if self.creds is None:
            raise AwsError("no AWS credentials found (environment, profile, SSO, instance role)")
        ca = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
        self.http = urllib3.PoolManager(maxsize=max(pool, 1), retries=False, ca_certs=ca if isinstance(ca, str) else None,
                                        timeout=urllib3.Timeout(connect=10, read=60))
        self.throttled = 0
        self.retried = 0

    def describe(self, table: str) -> dict:
        try:
            return self.client.describe_table(TableName=table)["Table"]
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise AwsError(f"table {table!r} not found in {self.region}") from None
            raise AwsError(f"describe_table {table!r}: {code}: {e.response.get('Error', {}).get('Message', '')}") from None
        except BotoCoreError as e:
            raise AwsError(f"describe_table {table!r}: {e}") from None

    def _post(self, target: str, body: bytes):
        req = AWSRequest(method="POST", url=self.url + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{target}"})
        SigV4Auth(self.creds.get_frozen_credentials(), "dynamodb", self.region).add_auth(req)
        r = self.http.request("POST", req.url, body=body, headers=dict(req.headers.items()), preload_content=True)
        return r.status, r.data

    def scan(self, params: dict, stop=None, max_attempts=12) -> dict:
        """One Scan page; throttling and 5xx answers back off and retry (counted), never losing
        the page; another error is an AwsError."""
        import urllib3

        body = json.dumps(params, separators=(",", ":")).encode()
        delay = 0.05
        attempt = 0
        while attempt < max_attempts:
            attempt += 1
            try:
                status, data = self._post("Scan", body)
            except urllib3.exceptions.HTTPError as e:
                status, data, why = None, b"", f"{type(e).__name__}: {e}"
            else:
                if status == 200:
                    return json.loads(data)
                try:
                    err = json.loads(data)
                except ValueError:
                    err = {}
                code = str(err.get("__type", "")).rsplit("#", 1)[-1]
                msg = err.get("message") or err.get("Message") or data[:200].decode("utf-8", "replace")
                why = f"{code or status}: {msg}"
                if code in THROTTLES:
                    self.throttled += 1      # never given up on: the budget waits it out
                    attempt = 0
                elif status < 500:
                    if code == "ResourceNotFoundException":
                        raise AwsError(f"table {params['TableName']!r} not found in {self.region}")
                    raise AwsError(f"scan {params['TableName']!r}: {why}")
            self.retried += 1
            if stop is not None and stop.is_set():
                raise AwsError(f"scan {params['TableName']!r}: stopped while retrying ({why})")
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
        raise AwsError(f"scan {params['TableName']!r}: gave up after {max_attempts} attempts ({why})")
