"""Whether a delivery asks to join: the command match, pure (no network).

Acts only on an `issue_comment` delivery (when the event header is known) whose action is
`created`, whose comment body is exactly the command after trimming white space (not a
substring: "don't join" does not match), from a repository of the allowlist when one is given,
by a user whose type is not Bot."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Match:
    ok: bool
    reason: str
    login: str | None = None
    repository: str | None = None
    avatar_url: str | None = None


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def match(payload: dict, event: str | None, command: str, repos: list[str] | None) -> Match:
    login = _get(payload, "comment", "user", "login")
    login = login if isinstance(login, str) else None
    repo = _get(payload, "repository", "full_name")
    repo = repo if isinstance(repo, str) else None
    avatar = _get(payload, "comment", "user", "avatar_url")
    m = Match(False, "", login, repo, avatar if isinstance(avatar, str) else None)
    if event is not None and event != "issue_comment":
        m.reason = f"event {event}, not issue_comment"
        return m
    if not isinstance(payload.get("comment"), dict):
        m.reason = "ping" if "zen" in payload else "not an issue_comment payload (no comment)"
        return m
    action = payload.get("action")
    if action != "created":
        m.reason = f"action {action}, not created"
        return m
    if repos and (repo or "").lower() not in {r.lower() for r in repos}:
        m.reason = f"repository {repo} not in --repo"
        return m
    if not login:
        m.reason = "comment without comment.user.login"
        return m
    if _get(payload, "comment", "user", "type") == "Bot":
        m.reason = "comment by a Bot"
        return m
    body = _get(payload, "comment", "body")
    if not isinstance(body, str) or body.strip() != command:
        m.reason = f"comment is not {command!r}"
        return m
    m.ok, m.reason = True, "command"
    return m
