"""moto in server mode (in this process, so the tests can shape its ECS state) plus the SSM calls
moto does not implement (StartSession, TerminateSession), answered by a small response patch that
records every request; the fake session-manager-plugin in fakebin/ first on PATH."""
from __future__ import annotations

import json
import os
import pathlib
import socket
import threading
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
FAKEBIN = HERE / "fakebin"
REGION = "us-east-1"
ACCOUNT = "123456789012"



class SSMRecorder:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.fail_starts = 0  # the next N StartSession calls fail (a 400 botocore never retries)

    def of(self, kind):
        with self.lock:
            return [b for k, b in self.calls if k == kind]


@pytest.fixture(scope="session")
def moto_server():
    import logging

    from moto.core.responses import ActionResult
    from moto.moto_api import state_manager
    from moto.server import ThreadedMotoServer
    from moto.ssm.responses import SimpleSystemManagerResponse

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rec = SSMRecorder()

    def start_session(self):
        from moto.core.exceptions import JsonRESTError

        body = json.loads(self.body)
        sid = f"pf-{uuid.uuid4().hex[:12]}"
        with rec.lock:
            if rec.fail_starts > 0:
                rec.fail_starts -= 1
                rec.calls.append(("start_failed", body))
                raise JsonRESTError("InvalidRequest", "injected StartSession failure")
            rec.calls.append(("start", {**body, "SessionId": sid}))
        return ActionResult({"SessionId": sid, "TokenValue": f"secret-token-{sid}",
                             "StreamUrl": f"wss://ssmmessages.{REGION}.amazonaws.com/v1/data-channel/{sid}"})

    def terminate_session(self):
        body = json.loads(self.body)
        with rec.lock:
            rec.calls.append(("terminate", body))
        return ActionResult({"SessionId": body["SessionId"]})

    SimpleSystemManagerResponse.start_session = start_session
    SimpleSystemManagerResponse.terminate_session = terminate_session
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    server.url = f"http://{host}:{port}"
    server.ssm = rec
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server, tmp_path):
    rec = tmp_path / "plugin-runs"
    rec.mkdir()
    env = {
        "AWS_ENDPOINT_URL": moto_server.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PATH": f"{FAKEBIN}{os.pathsep}{os.environ['PATH']}", "FAKE_PLUGIN_RECORD": str(rec),
    }
    return env


@pytest.fixture
def ecs_task(moto_server):
    """Make a RUNNING task with exec enabled; returns an object to reshape it."""
    import boto3
    from moto.ecs.models import ecs_backends

    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=moto_server.url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_server.url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    cluster = f"c-{uuid.uuid4().hex[:6]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": "nginx", "memory": 128}])
    inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps({
        "instanceId": inst["InstanceId"], "availabilityZone": f"{REGION}a", "region": REGION,
        "accountId": ACCOUNT, "instanceType": "t2.micro", "imageId": "ami-12c6146b", "privateIp": "10.0.0.1"}))
    arn = ecs.run_task(cluster=cluster, taskDefinition="web", count=1, group="service:api",
                       enableExecuteCommand=True)["tasks"][0]["taskArn"]

    class T:
        pass

    t = T()
    t.cluster = cluster
    t.arn = arn
    t.id = arn.rsplit("/", 1)[-1]
    t.model = ecs_backends[ACCOUNT][REGION].tasks[cluster][arn]
    t.runtime_id = f"{t.id}-1234567890"

    def shape(status="RUNNING", exec_enabled=True, agent="RUNNING", runtime_id=t.runtime_id):
        t.model.status = status
        t.model.enable_execute_command = exec_enabled
        c = t.model.containers[0]
        c.runtime_id = runtime_id
        c.managed_agents = [{"name": "ExecuteCommandAgent", "lastStatus": agent}] if agent else []

    t.shape = shape
    shape()
    return t


@pytest.fixture
def echo_server():
    ls = socket.socket()
    ls.bind(("0.0.0.0", 0))  # reached as 127.0.0.1 (the task) and 127.0.0.2 (a "remote host")
    ls.listen(16)

    def serve(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    yield ls.getsockname()[1]
    ls.close()


