"""session.Runner in process, with plain stand-ins for the ECS and SSM clients and a tiny plugin
script: the reconnect back-off."""
import io
import json
import signal
import threading
import time
from types import SimpleNamespace

from ecs_exec_pf.forwards import Forward
from ecs_exec_pf.log import Log
from ecs_exec_pf.preflight import Target
from ecs_exec_pf.session import Runner


class FakeSSM:
    meta = SimpleNamespace(endpoint_url="https://ssm.example")

    def __init__(self):
        self.n = 0
        self.terminated = []

    def start_session(self, **req):
        self.n += 1
        return {"SessionId": f"s-{self.n}", "TokenValue": "t", "StreamUrl": "wss://u"}

    def terminate_session(self, SessionId):
        self.terminated.append(SessionId)


class FakeECS:
    def describe_tasks(self, **kw):
        return {"tasks": [{"lastStatus": "RUNNING"}]}


def reconnect_delays(tmp_path, lives: float, stable_after: float, drops: int):
    plugin = tmp_path / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\necho 'Port 4321 opened for sessionId x.'\n"
                      f"sleep {lives}\necho 'connection lost'\nexit 1\n")
    plugin.chmod(0o755)
    out = io.StringIO()
    runner = Runner(ecs=FakeECS(), ssm=FakeSSM(), region="eu-west-1", profile=None,
                    target=Target("c", "t", "r", "app", "arn:aws:ecs:eu-west-1:1:task/c/t"),
                    forwards=[Forward(0, 80)], plugin=str(plugin), plugin_version="1.2.650.0",
                    log=Log("json", out), reconnect=True, watch_interval=3600, stable_after=stable_after)

    def events():
        return [json.loads(x) for x in out.getvalue().splitlines()]

    def stop_after_drops():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(e["event"] == "reconnect" for e in events()) >= drops:
                break
            time.sleep(0.05)
        runner.events.put(("signal", None, 0, signal.SIGINT))

    threading.Thread(target=stop_after_drops, daemon=True).start()
    assert runner.run() == 130
    return [e["delay"] for e in events() if e["event"] == "reconnect"][:drops]


def test_backoff_grows_while_sessions_keep_dropping_at_once(tmp_path):
    assert reconnect_delays(tmp_path, lives=0.1, stable_after=60, drops=3) == [0.5, 1.0, 2.0]


def test_a_session_that_had_been_working_restarts_the_backoff(tmp_path):
    """Without the reset, every drop after the sixth waited the full 30 s, however long (hours)
    the session in between had worked."""
    assert reconnect_delays(tmp_path, lives=0.4, stable_after=0.2, drops=3) == [0.5, 0.5, 0.5]
