"""In-process runs with botocore's Stubber, asserting the exact ECS and SSM requests."""
import io
import os

import boto3
import pytest
from botocore.stub import ANY, Stubber
from ecs_exec_pf import app, cli
from ecs_exec_pf.log import Log


def clients():
    kw = dict(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    return boto3.client("ecs", **kw), boto3.client("ssm", **kw)


TASK = {"tasks": [{
    "taskArn": "arn:aws:ecs:eu-west-1:1:task/prod/abc", "clusterArn": "arn:aws:ecs:eu-west-1:1:cluster/prod",
    "lastStatus": "RUNNING", "enableExecuteCommand": True, "group": "service:api",
    "containers": [
        {"name": "app", "runtimeId": "abc-1", "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]},
        {"name": "proxy", "runtimeId": "abc-2", "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]},
    ]}], "failures": []}


def args_for(argv):
    return cli.build_parser().parse_args(argv)


def test_second_container_by_name_print_target(capsys):
    ecs, ssm = clients()
    with Stubber(ecs) as st:
        st.add_response("describe_tasks", TASK, {"cluster": "prod", "tasks": ["abc"]})
        rc = app.run(*cli.parse(["-c", "prod", "-t", "abc", "-n", "proxy", "-p", "80", "--print-target"]),
                     clients=(ecs, ssm, "eu-west-1"), log=Log(stream=io.StringIO()))
    assert rc == 0
    assert capsys.readouterr().out == "ecs:prod_abc_abc-2\n"


def test_service_lookup_requests(capsys):
    ecs, ssm = clients()
    with Stubber(ecs) as st:
        st.add_response("list_tasks", {"taskArns": [TASK["tasks"][0]["taskArn"]]},
                        {"cluster": "prod", "serviceName": "api", "desiredStatus": "RUNNING"})
        st.add_response("describe_tasks", TASK, {"cluster": "prod", "tasks": [TASK["tasks"][0]["taskArn"]]})
        st.add_response("describe_tasks", TASK, {"cluster": "prod", "tasks": ["abc"]})
        rc = app.run(*cli.parse(["-c", "prod", "--service", "api", "-p", "80", "--print-target"]),
                     clients=(ecs, ssm, "eu-west-1"), log=Log(stream=io.StringIO()))
    assert rc == 0
    assert capsys.readouterr().out == "ecs:prod_abc_abc-1\n"


def test_start_session_request_for_remote_host(monkeypatch, tmp_path):
    """The exact StartSession request (Stubber asserts it) and TerminateSession on the way out."""
    ecs, ssm = clients()
    plugin = tmp_path / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 1.2.650.0 && exit 0\necho 'Port 4321 opened for sessionId s-1.'\nexit 0\n")
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with Stubber(ecs) as es, Stubber(ssm) as ss:
        es.add_response("describe_tasks", TASK, {"cluster": "prod", "tasks": ["abc"]})
        ss.add_response("start_session", {"SessionId": "s-1", "TokenValue": "t", "StreamUrl": "wss://u"}, {
            "Target": "ecs:prod_abc_abc-1",
            "DocumentName": "AWS-StartPortForwardingSessionToRemoteHost",
            "Parameters": {"portNumber": ["3306"], "localPortNumber": ["13306"], "host": ["db.internal"]},
            "Reason": ANY})
        ss.add_response("terminate_session", {"SessionId": "s-1"}, {"SessionId": "s-1"})
        out = io.StringIO()
        rc = app.run(*cli.parse(["-c", "prod", "-t", "abc", "-p", "3306", "-l", "13306", "--remote-host", "db.internal",
                               "--log-format", "json"]), clients=(ecs, ssm, "eu-west-1"), log=Log("json", out))
        ss.assert_no_pending_responses()
    assert rc == 0
    assert '"event":"port_opened"' in out.getvalue() and '"local_port":4321' in out.getvalue()


@pytest.mark.parametrize("argv", [
    ["-c", "x", "-t", "y"],                                  # nothing to forward
    ["-c", "x", "-t", "y", "-l", "80"],                      # -l without -p
    ["-c", "x", "-t", "y", "-p", "80", "-L", "80:h:1"],      # local port twice
    ["-c", "x", "-t", "y", "-p", "0"],
    ["-c", "x", "-t", "y", "-L", "nonsense"],
])
def test_usage_errors(argv, capsys):
    # found before any AWS call: the usage and `prog: error: ...`, exit 2
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ecs-exec-pf") and "\necs-exec-pf: error: " in err


def test_cli_usage_error_exit_code(capsys):
    assert cli.main(["-t", "y", "-p", "1"]) == 2
    assert "ecs-exec-pf: error: " in capsys.readouterr().err


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "1e308", "x"])
def test_watch_interval_must_be_a_sane_period(value, capsys):
    """inf used to overflow a lock timeout (traceback), nan switched the watch off, 0 and negative
    values described the task in a busy loop."""
    assert cli.main(["-c", "x", "-t", "y", "-p", "80", "--watch-interval", value]) == 2
    assert "ecs-exec-pf: " in capsys.readouterr().err


def test_aws_region_is_honoured(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    ecs, ssm, region = app.make_clients(args_for(["-c", "x", "-t", "y", "-p", "80"]))
    assert region == "eu-west-3" and ecs.meta.region_name == "eu-west-3" == ssm.meta.region_name
    # --region still wins
    ecs, ssm, region = app.make_clients(args_for(["-c", "x", "-t", "y", "-p", "80", "--region", "ap-south-1"]))
    assert region == "ap-south-1" == ssm.meta.region_name


def test_plugin_gone_after_the_preflight_terminates_the_session(monkeypatch, tmp_path, capsys):
    """The plugin answered --version, then could not be run for the session (here it removes
    itself): exit 3 with a message, not a traceback, and the session just started is terminated
    (what the AWS CLI does when the plugin is missing after the API call)."""
    ecs, ssm = clients()
    plugin = tmp_path / "session-manager-plugin"
    plugin.write_text('#!/bin/sh\n[ "$1" = --version ] && rm -f "$0" && echo 1.2.650.0 && exit 0\nexit 0\n')
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with Stubber(ecs) as es, Stubber(ssm) as ss:
        es.add_response("describe_tasks", TASK, {"cluster": "prod", "tasks": ["abc"]})
        ss.add_response("start_session", {"SessionId": "s-1", "TokenValue": "t", "StreamUrl": "wss://u"}, None)
        ss.add_response("terminate_session", {"SessionId": "s-1"}, {"SessionId": "s-1"})
        out = io.StringIO()
        rc = app.run(*cli.parse(["-c", "prod", "-t", "abc", "-p", "80", "-l", "0"]),
                     clients=(ecs, ssm, "eu-west-1"), log=Log(stream=out))
        ss.assert_no_pending_responses()
    assert rc == 3, out.getvalue()
    assert "cannot run" in out.getvalue() and "session-manager-plugin" in out.getvalue()


def test_ctrl_c_while_parsing_arguments_is_130_without_traceback(monkeypatch):
    from ecs_exec_pf import cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    try:
        rc = cli.main(["-c", "x", "-t", "y", "-p", "80"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): a traceback for the user")
    assert rc == 130


def test_go_spellings_of_every_long_option():
    # derived from the parser by the entry template (go_flags): upstream's -cluster/-task/... and
    # the same single-dash form of the options it never had
    args, fwd = cli.parse(["-cluster=prod", "-service", "api", "-container", "app", "-port", "80",
                           "-local-port", "0", "-remote-host", "db", "-watch-interval", "5", "-reconnect"])
    assert (args.cluster, args.service, args.container, args.watch_interval, args.reconnect) == \
        ("prod", "api", "app", 5.0, True)
    assert [(f.local_port, f.remote_port, f.remote_host) for f in fwd] == [(0, 80, "db")]


def test_help_into_a_full_disk_is_a_write_error():
    # argparse swallowed the error: exit 0 having written nothing
    import subprocess
    import sys
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        r = subprocess.run([sys.executable, "-m", "ecs_exec_pf.cli", "--help"], stdout=full,
                           stderr=subprocess.PIPE, timeout=60)
    assert (r.returncode, r.stderr) == (1, b"ecs-exec-pf: write error: No space left on device\n")
