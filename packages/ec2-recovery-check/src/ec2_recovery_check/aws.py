"""The AWS calls (boto3, imported only here): describe_instances, describe_images,
describe_instance_types, describe_launch_template_versions, describe_alarms, put_metric_alarm."""
from __future__ import annotations

import os

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .assess import LT_ID, LT_VERSION, Captured


class AwsError(Exception):
    pass


def _why(e) -> str:
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        return f"{e.operation_name}: {err.get('Code')}: {err.get('Message')}"
    return str(e)


class Aws:
    def __init__(self, region=None, profile=None, endpoint_url=None):
        try:
            # the AWS CLI's order: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
            s = boto3.session.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)
            self.region = s.region_name
            if not self.region:
                raise AwsError("no region: give --region or set AWS_REGION (or a profile's region)")
            self.ec2 = s.client("ec2", endpoint_url=endpoint_url)
            self.cw = s.client("cloudwatch", endpoint_url=endpoint_url)
        except BotoCoreError as e:
            raise AwsError(str(e)) from None

    def gather(self, ids, tags) -> Captured:
        cap = Captured()
        try:
            kw = {}
            if ids:
                kw["InstanceIds"] = list(ids)
            if tags:
                kw["Filters"] = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags]
            for page in self.ec2.get_paginator("describe_instances").paginate(**kw):
                cap.add({"Reservations": [{"Instances": [i for r in page["Reservations"] for i in r["Instances"]
                                                         if i.get("State", {}).get("Name") != "terminated"]}]})
            amis = sorted({i["ImageId"] for i in cap.instances if i.get("ImageId")})
            if amis:
                cap.add(self.ec2.describe_images(ImageIds=amis))
            types = sorted({i["InstanceType"] for i in cap.instances})
            if types:
                cap.add(self.ec2.describe_instance_types(InstanceTypes=types))
            for lt, ver in sorted({(t[LT_ID], t.get(LT_VERSION)) for t in (
                    {x["Key"]: x["Value"] for x in i.get("Tags") or []} for i in cap.instances) if LT_ID in t}):
                try:
                    cap.add(self.ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=[str(ver)]))
                except ClientError as e:
                    if "NotFound" not in e.response.get("Error", {}).get("Code", ""):
                        raise
            for page in self.cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
                cap.add({"MetricAlarms": page.get("MetricAlarms", [])})
        except (ClientError, BotoCoreError) as e:
            raise AwsError(_why(e)) from None
        return cap

    def put_alarm(self, alarm: dict) -> None:
        try:
            self.cw.put_metric_alarm(**alarm)
        except (ClientError, BotoCoreError) as e:
            raise AwsError(_why(e)) from None
