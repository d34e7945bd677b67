"""Forwarding specs and the SSM StartSession requests they become (pure functions, no AWS)."""
from __future__ import annotations

import json
from dataclasses import dataclass

DOC_LOCAL = "AWS-StartPortForwardingSession"
DOC_REMOTE = "AWS-StartPortForwardingSessionToRemoteHost"
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


class SpecError(ValueError):
    """A forwarding spec that cannot be used (a usage error)."""


def _port(text: str, what: str, allow_zero: bool) -> int:
    # ASCII digits only: int() would also take " 80", "+80" and other scripts' digits ("١٢")
    if not (text.isascii() and text.isdigit()):
        raise SpecError(f"{what} is not a port number: {text!r}")
    n = int(text, 10)
    if not (0 if allow_zero else 1) <= n <= 65535:
        raise SpecError(f"{what} out of range: {text!r}")
    return n


@dataclass(frozen=True)
class Forward:
    local_port: int          # 0 = ephemeral, the plugin picks one and says so
    remote_port: int
    remote_host: str = ""    # "" = the container itself

    @property
    def document(self) -> str:
        return DOC_REMOTE if self.remote_host not in LOCAL_HOSTS else DOC_LOCAL

    def parameters(self) -> dict[str, list[str]]:
        p = {"portNumber": [str(self.remote_port)], "localPortNumber": [str(self.local_port)]}
        if self.document == DOC_REMOTE:
            p["host"] = [self.remote_host]
        return p

    def describe(self) -> str:
        host = self.remote_host if self.document == DOC_REMOTE else "container"
        return f"{self.local_port or 'auto'} -> {host}:{self.remote_port}"


def parse_L(spec: str) -> Forward:
    """`[local:]host:remote` (ssh -L style; an empty local means ephemeral). IPv6 hosts in brackets."""
    host = None
    rest = spec
    if "[" in spec:
        pre, _, tail = spec.partition("[")
        host, sep, after = tail.partition("]")
        if not sep or not after.startswith(":"):
            raise SpecError(f"bad -L spec: {spec!r}")
        local = pre[:-1] if pre.endswith(":") else pre
        if pre and not pre.endswith(":"):
            raise SpecError(f"bad -L spec: {spec!r}")
        remote = after[1:]
    else:
        parts = rest.split(":")
        if len(parts) == 2:
            local, host, remote = "", parts[0], parts[1]
        elif len(parts) == 3:
            local, host, remote = parts
        else:
            raise SpecError(f"bad -L spec (want [local:]host:remote): {spec!r}")
    local_port = _port(local, "local port", True) if local != "" else 0
    remote_port = _port(remote, "remote port", False)
    return Forward(local_port, remote_port, host or "")


def start_session_request(target: str, fwd: Forward, reason: str = "ecs-exec-pf port forwarding") -> dict:
    return {"Target": target, "DocumentName": fwd.document, "Parameters": fwd.parameters(), "Reason": reason}


def plugin_argv(plugin: str, env_name: str, region: str, profile: str | None, request: dict,
                ssm_endpoint: str) -> list[str]:
    """The AWS CLI's argument order for session-manager-plugin (the response itself goes in the
    environment variable named by argv[1], keeping the token out of `ps`)."""
    return [plugin, env_name, region, "StartSession", profile or "", json.dumps(request), ssm_endpoint]


def version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for part in text.strip().split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


# session-manager-plugin newer than this reads the response from an environment variable
ENV_RESPONSE_MIN_EXCLUSIVE = (1, 2, 497, 0)


def plugin_takes_env_response(version: str) -> bool:
    return version_tuple(version) > ENV_RESPONSE_MIN_EXCLUSIVE
