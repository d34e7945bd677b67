"""The pure parts: -L specs, StartSession requests, plugin argv, version rule, target resolution."""
import json

import pytest
from ecs_exec_pf.forwards import (
    DOC_LOCAL,
    DOC_REMOTE,
    Forward,
    SpecError,
    parse_L,
    plugin_argv,
    plugin_takes_env_response,
    start_session_request,
)
from ecs_exec_pf.preflight import PreflightError, pick_service_task, resolve_target


@pytest.mark.parametrize("spec,want", [
    ("8080:localhost:80", Forward(8080, 80, "localhost")),
    ("db.internal:3306", Forward(0, 3306, "db.internal")),
    (":db.internal:3306", Forward(0, 3306, "db.internal")),
    ("0:10.0.0.5:5432", Forward(0, 5432, "10.0.0.5")),
    ("9000:[fd00::1]:443", Forward(9000, 443, "fd00::1")),
    ("[fd00::1]:443", Forward(0, 443, "fd00::1")),
])
def test_parse_L(spec, want):
    assert parse_L(spec) == want


@pytest.mark.parametrize("spec", ["80", "a:b:c:d", "x:host:80", "1:host:0", "1:host:70000", "99999:h:1", "[::1:80",
                                  "8080:host:", "\u0661\u0662:host:80", "1:host:\uff18\uff10", " 1:host:80",
                                  "1:host:+80"])
def test_parse_L_rejects(spec):
    with pytest.raises(SpecError):
        parse_L(spec)


def test_documents_and_parameters():
    assert Forward(8080, 80).document == DOC_LOCAL
    assert Forward(8080, 80, "localhost").document == DOC_LOCAL
    req = start_session_request("ecs:c_t_r", Forward(0, 3306, "db"))
    assert req == {"Target": "ecs:c_t_r", "DocumentName": DOC_REMOTE, "Reason": req["Reason"],
                   "Parameters": {"portNumber": ["3306"], "localPortNumber": ["0"], "host": ["db"]}}
    assert start_session_request("ecs:c_t_r", Forward(1, 2))["Parameters"] == {
        "portNumber": ["2"], "localPortNumber": ["1"]}


def test_plugin_argv_is_the_aws_cli_order_without_the_token():
    req = start_session_request("ecs:c_t_r", Forward(1, 2))
    argv = plugin_argv("/bin/plugin", "AWS_SSM_START_SESSION_RESPONSE", "ap-northeast-1", None, req,
                       "https://ssm.ap-northeast-1.amazonaws.com")
    assert argv[1:4] == ["AWS_SSM_START_SESSION_RESPONSE", "ap-northeast-1", "StartSession"]
    assert argv[4] == ""
    assert json.loads(argv[5])["Target"] == "ecs:c_t_r"
    assert argv[6] == "https://ssm.ap-northeast-1.amazonaws.com"


@pytest.mark.parametrize("v,env", [("1.2.497.0", False), ("1.2.498.0", True), ("1.2.650.0", True),
                                   ("1.1.61.0", False), ("1.10.0.0", True)])
def test_env_response_only_for_new_plugins(v, env):
    assert plugin_takes_env_response(v) is env


def _task(**kw):
    t = {"taskArn": "arn:aws:ecs:r:1:task/prod/abc123", "clusterArn": "arn:aws:ecs:r:1:cluster/prod",
         "lastStatus": "RUNNING", "enableExecuteCommand": True,
         "containers": [
             {"name": "app", "runtimeId": "abc123-111", "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]},
             {"name": "side", "runtimeId": "abc123-222", "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]},
         ]}
    t.update(kw)
    return {"tasks": [t], "failures": []}


def test_container_selection_works():
    # upstream compared a string to a pointer and always failed when -n was given
    assert resolve_target(_task(), "prod", "abc123", "side").ssm_target == "ecs:prod_abc123_abc123-222"
    assert resolve_target(_task(), "prod", "abc123", None).ssm_target == "ecs:prod_abc123_abc123-111"
    assert resolve_target(_task(), "arn:aws:ecs:r:1:cluster/prod", "abc123", "app").cluster == "prod"


@pytest.mark.parametrize("described,container,status", [
    ({"tasks": [], "failures": [{"reason": "MISSING"}]}, None, 4),
    (_task(), "nope", 4),
    (_task(lastStatus="STOPPED"), None, 5),
    (_task(enableExecuteCommand=False), None, 6),
    (_task(containers=[{"name": "app", "runtimeId": "x", "managedAgents": [
        {"name": "ExecuteCommandAgent", "lastStatus": "PENDING"}]}]), None, 7),
    (_task(containers=[{"name": "app", "runtimeId": "x"}]), None, 7),
])
def test_preflight_failures_have_their_own_status(described, container, status):
    with pytest.raises(PreflightError) as e:
        resolve_target(described, "prod", "abc123", container)
    assert e.value.status == status


def test_pick_service_task_prefers_the_services_oldest_running_task():
    tasks = [
        {"taskArn": "a/t2", "group": "service:api", "lastStatus": "RUNNING", "startedAt": "2026-01-02"},
        {"taskArn": "a/t1", "group": "service:api", "lastStatus": "RUNNING", "startedAt": "2026-01-01"},
        {"taskArn": "a/t0", "group": "service:other", "lastStatus": "RUNNING", "startedAt": "2025-01-01"},
        {"taskArn": "a/t3", "group": "service:api", "lastStatus": "STOPPED", "startedAt": "2020-01-01"},
    ]
    assert pick_service_task(tasks, "api") == "t1"
    with pytest.raises(PreflightError):
        pick_service_task(tasks[3:], "api")
