"""GitHub's team membership API and a Slack incoming webhook, with urllib.request only.

Every GitHub call sends Authorization (Bearer), User-Agent, Accept and X-GitHub-Api-Version
(GitHub refuses a request without a User-Agent). Errors carry a one-line reason and never the
token or the Slack URL."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from . import __version__

USER_AGENT = f"gh-team-join/{__version__}"
ACCEPT = "application/vnd.github+json"
API_VERSION = "2022-11-28"
MAX_RETRY_AFTER = 60.0     # seconds: a longer Retry-After is cut to this

_HINTS = {401: "bad or expired token", 403: "forbidden or rate limited",
          404: "unknown org or team, or the token cannot see it", 422: "validation failed"}


class HTTPFailure(Exception):
    """A request failed: status (None when no answer came) and a one-line reason."""

    def __init__(self, status: int | None, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _one_line(s: str, n: int = 200) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n] + "..."


def _open(req, timeout):
    """-> (status, headers, body bytes); an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise HTTPFailure(None, f"cannot reach {req.host}: {reason}") from None


class GitHub:
    def __init__(self, api_url: str, token: str, timeout: float = 10.0):
        self.api_url = api_url.rstrip("/")
        self.token, self.timeout = token, timeout
        self.calls = 0

    def _path(self, org, team, login):
        q = urllib.parse.quote
        return f"/orgs/{q(org, safe='')}/teams/{q(team, safe='')}/memberships/{q(login, safe='')}"

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, object]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT, **({"Content-Type": "application/json"} if data is not None else {})})
        self.calls += 1
        status, headers, raw = _open(req, self.timeout)
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"message": raw.decode("utf-8", "replace")}
        return status, headers, doc

    def _failure(self, method, path, status, headers, doc) -> HTTPFailure:
        msg = doc.get("message", "") if isinstance(doc, dict) else ""
        errs = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errs, list) and errs:
            msg += " (" + "; ".join(e.get("message") or e.get("code") or str(e) if isinstance(e, dict)
                                    else str(e) for e in errs) + ")"
        hint = _HINTS.get(status, "unexpected answer")
        if status in (403, 429) and headers is not None and headers.get("x-ratelimit-remaining") == "0":
            hint = "rate limited (x-ratelimit-remaining 0)"
        return HTTPFailure(status, _one_line(f"GitHub {status} {hint} on {method} {path}"
                                             + (f": {msg}" if msg else "")))

    def membership(self, org, team, login) -> dict | None:
        """The membership ({"state": "active"|"pending", ...}) or None when not a member (404:
        GitHub answers the same for an unknown team; the PUT tells them apart)."""
        path = self._path(org, team, login)
        status, headers, doc = self.request("GET", path)
        if status == 200 and isinstance(doc, dict):
            return doc
        if status == 404:
            return None
        raise self._failure("GET", path, status, headers, doc)

    def add(self, org, team, login, role="member") -> dict:
        path = self._path(org, team, login)
        status, headers, doc = self.request("PUT", path, {"role": role})
        if status == 200 and isinstance(doc, dict):
            return doc
        raise self._failure("PUT", path, status, headers, doc)


def slack_post(url: str, message: dict, *, timeout: float = 10.0, sleep=time.sleep) -> str:
    """POST the message to an incoming webhook; -> "ok". A 429 waits Retry-After (at most
    MAX_RETRY_AFTER s) once and tries again; any other failure raises HTTPFailure with Slack's
    text answer (invalid_payload, no_service ...), never the URL."""
    data = json.dumps(message).encode()
    for attempt in (1, 2):
        req = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT})
        try:
            status, headers, raw = _open(req, timeout)
        except HTTPFailure as e:
            raise HTTPFailure(None, "Slack: " + e.reason) from None
        text = _one_line(raw.decode("utf-8", "replace"), 100)
        if status == 200:
            return text or "ok"
        if status == 429 and attempt == 1:
            try:
                wait = float(headers.get("Retry-After", "1"))
            except (TypeError, ValueError):
                wait = 1.0
            sleep(max(0.0, min(wait, MAX_RETRY_AFTER)))
            continue
        raise HTTPFailure(status, f"Slack {status}" + (f" {text}" if text else "")
                          + (" (after waiting Retry-After once)" if status == 429 else ""))
    raise AssertionError("unreachable")
