"""Checks made before any session is opened, over plain describe_tasks / list_tasks data.

Each failure is a `PreflightError` carrying its own exit status (see README, EXIT STATUS).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

EXIT_PLUGIN = 3
EXIT_NOT_FOUND = 4
EXIT_NOT_RUNNING = 5
EXIT_EXEC_DISABLED = 6
EXIT_AGENT = 7
EXIT_AWS = 8


class PreflightError(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    cluster: str
    task_id: str
    runtime_id: str
    container: str
    task_arn: str

    @property
    def ssm_target(self) -> str:
        return f"ecs:{self.cluster}_{self.task_id}_{self.runtime_id}"


def last_segment(arn_or_id: str) -> str:
    return arn_or_id.rstrip("/").rsplit("/", 1)[-1]


def find_plugin(name: str = "session-manager-plugin") -> tuple[str, str]:
    """Return (path, version) of the plugin, or raise with install advice."""
    path = shutil.which(name)
    if not path:
        raise PreflightError(
            f"{name} not found on PATH: install the Session Manager plugin "
            "(https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)",
            EXIT_PLUGIN)
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PreflightError(f"{name} does not run: {e}", EXIT_PLUGIN) from None
    m = re.search(r"\d+(?:\.\d+)+", r.stdout + r.stderr)
    if r.returncode != 0 or not m:
        raise PreflightError(f"{name} --version failed: {(r.stderr or r.stdout).strip()}", EXIT_PLUGIN)
    return path, m.group(0)


def pick_service_task(tasks: list[dict], service: str) -> str:
    """From described tasks, the RUNNING task of `service` started first (stable choice)."""
    mine = [t for t in tasks if t.get("group") == f"service:{service}"]
    if not mine and all(t.get("group") is None for t in tasks):
        mine = tasks  # no group reported: trust list_tasks(serviceName=...)
    running = [t for t in mine if t.get("lastStatus") == "RUNNING"]
    if not running:
        raise PreflightError(f"no RUNNING task found for service {service}", EXIT_NOT_FOUND)
    running.sort(key=lambda t: (str(t.get("startedAt", "")), t["taskArn"]))
    return last_segment(running[0]["taskArn"])


def resolve_target(described: dict, cluster: str, task: str, container: str | None) -> Target:
    """Check one describe_tasks response and build the SSM target."""
    tasks = described.get("tasks") or []
    if not tasks:
        reasons = ", ".join(f.get("reason", "?") for f in described.get("failures") or [])
        raise PreflightError(f"task {task} not found in cluster {cluster}" + (f" ({reasons})" if reasons else ""),
                             EXIT_NOT_FOUND)
    t = tasks[0]
    status = t.get("lastStatus", "UNKNOWN")
    if status != "RUNNING":
        raise PreflightError(f"task {task} is {status}, not RUNNING", EXIT_NOT_RUNNING)
    if not t.get("enableExecuteCommand"):
        raise PreflightError(
            f"execute command is not enabled on task {task}: update the service/run the task with "
            "--enable-execute-command", EXIT_EXEC_DISABLED)
    containers = t.get("containers") or []
    if container:
        chosen = next((c for c in containers if c.get("name") == container), None)
        if chosen is None:
            names = ", ".join(c.get("name", "?") for c in containers)
            raise PreflightError(f"container {container} not found in task {task} (containers: {names})",
                                 EXIT_NOT_FOUND)
    else:
        if not containers:
            raise PreflightError(f"task {task} has no container", EXIT_NOT_FOUND)
        chosen = containers[0]
    agents = chosen.get("managedAgents") or []
    agent = next((a for a in agents if a.get("name") == "ExecuteCommandAgent"), None)
    if agent is None or agent.get("lastStatus") != "RUNNING":
        st = agent.get("lastStatus", "UNKNOWN") if agent else "missing"
        raise PreflightError(
            f"ExecuteCommandAgent of container {chosen.get('name')} is {st}, not RUNNING", EXIT_AGENT)
    runtime_id = chosen.get("runtimeId")
    if not runtime_id:
        raise PreflightError(f"container {chosen.get('name')} has no runtimeId yet", EXIT_NOT_RUNNING)
    return Target(cluster=last_segment(t.get("clusterArn", cluster)), task_id=last_segment(t["taskArn"]),
                  runtime_id=runtime_id, container=chosen.get("name", ""), task_arn=t["taskArn"])
