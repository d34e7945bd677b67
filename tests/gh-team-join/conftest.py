"""Loopback fakes for gh-team-join: a GitHub API (team memberships by slug) and a Slack incoming
webhook, both http.server on 127.0.0.1, built from the shapes in the GitHub and Slack docs and
recording every request; moto's server on 127.0.0.1 for KMS (moto_server in tests/conftest.py),
started once when a test needs it.
Every test runs with fake AWS credentials and without the caller's GitHub/Slack settings, so
nothing can reach GitHub, Slack or AWS."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.aws import fake_env

TOKEN = "ghp_fake_token_for_tests"
ORG, TEAM = "my_org", "reader"

FAKE_ENV = fake_env("us-west-2")
CLEARED = ("GITHUB_TOKEN", "SLACK_WEBHOOK_URL", "GITHUB_WEBHOOK_SECRET", "GITHUB_API_URL", "AWS_PROFILE",
           "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
           "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in CLEARED:
        monkeypatch.delenv(k, raising=False)
    for k in [k for k in os.environ if k.startswith("GH_TEAM_JOIN_")]:
        monkeypatch.delenv(k)
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Base(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _record(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        req = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body}
        with self.server.lock:
            self.server.requests.append(req)
        return req

    def _send(self, status, body, headers=None, ctype="application/json"):
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if ctype == "application/json"
                                                    else body.encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)


class GitHubHandler(_Base):
    """GET/PUT /orgs/{org}/teams/{slug}/memberships/{username}, as GitHub documents them."""

    def _membership(self, method):
        req = self._record()
        srv = self.server
        if not req["headers"].get("user-agent"):
            return self._send(403, {"message": "Request forbidden by administrative rules. Please make sure "
                                               "your request has a User-Agent header"})
        if req["headers"].get("authorization") != f"Bearer {srv.token}":
            return self._send(401, {"message": "Bad credentials",
                                    "documentation_url": "https://docs.github.com/rest"})
        if srv.forbid:
            return self._send(403, {"message": "API rate limit exceeded"}, {"x-ratelimit-remaining": "0"})
        parts = self.path.split("/")
        if len(parts) != 7 or parts[1] != "orgs" or parts[3] != "teams" or parts[5] != "memberships":
            return self._send(404, {"message": "Not Found"})
        org, team, login = parts[2], parts[4], parts[6]
        url = f"{srv.url}/organizations/1/team/2/memberships/{login}"
        if (org, team) not in srv.teams:
            return self._send(404, {"message": "Not Found"})
        key = (org, team, login)
        if method == "GET":
            if key in srv.members:
                return self._send(200, {"url": url, "role": "member", "state": srv.members[key]})
            return self._send(404, {"message": "Not Found"})
        if login in srv.invalid_logins:
            return self._send(422, {"message": "Validation Failed",
                                    "errors": [{"code": "unprocessable", "field": "data",
                                                "message": "Cannot add an organization as a member."}]})
        body = json.loads(req["body"] or b"{}")
        srv.members.setdefault(key, srv.put_state)
        return self._send(200, {"url": url, "role": body.get("role", "member"), "state": srv.members[key]})

    def do_GET(self):
        self._membership("GET")

    def do_PUT(self):
        self._membership("PUT")


class SlackHandler(_Base):
    """An incoming webhook: 200 ok; 400 invalid_payload without text; answers queued in
    server.answers ((status, headers, text)) come first (429 with Retry-After ...)."""

    def do_POST(self):
        req = self._record()
        srv = self.server
        if srv.answers:
            status, headers, text = srv.answers.pop(0)
            return self._send(status, text, headers, "text/plain")
        try:
            msg = json.loads(req["body"])
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not msg.get("text"):
            return self._send(400, "invalid_payload", ctype="text/plain")
        return self._send(200, "ok", ctype="text/plain")


@pytest.fixture
def github():
    srv = Recorder(GitHubHandler)
    srv.token, srv.teams, srv.members = TOKEN, {(ORG, TEAM)}, {}
    srv.invalid_logins, srv.forbid, srv.put_state = {"some-org"}, False, "pending"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def slack():
    srv = Recorder(SlackHandler)
    srv.answers = []
    srv.hook = srv.url + "/services/T000/B000/XXXXSECRETXXXX"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def env(github, slack, monkeypatch):
    """The environment of a run against the fakes (also set in this process for main())."""
    e = {"GITHUB_API_URL": github.url, "GITHUB_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack.hook}
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    return dict(os.environ)
