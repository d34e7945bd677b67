"""The Lambda entry point, `gh_team_join.handler` (this module's handler, re-exported by the
package): a function URL (or API Gateway HTTP API) that GitHub's webhook POSTs to, or an SNS
subscription (the post's path).

Configuration from the function's environment: GH_TEAM_JOIN_ORG, GH_TEAM_JOIN_TEAM (required),
GH_TEAM_JOIN_COMMAND, GH_TEAM_JOIN_REPOS (comma-separated), GH_TEAM_JOIN_SLACK_TEXT,
GH_TEAM_JOIN_DRY_RUN=1, GH_TEAM_JOIN_REQUIRE_SIGNATURE=1, GH_TEAM_JOIN_STATE_DIR (e.g. /tmp: per
container only), GH_TEAM_JOIN_KMS_TOKEN_FILE, GH_TEAM_JOIN_KMS_SLACK_FILE, and as for the
command GITHUB_TOKEN, SLACK_WEBHOOK_URL, GITHUB_WEBHOOK_SECRET, GITHUB_API_URL.

A function URL event is answered directly: 200 with the result line as the body (acted or
skipped), 401 when the signature is missing or wrong, 400 when the body is no delivery, 502 when
GitHub or Slack failed (GitHub shows the failed delivery; "Redeliver" is safe). An SNS event
returns {"results": [...]} and raises on a GitHub failure, so that Lambda retries it."""
from __future__ import annotations

import json
import os

from . import app
from . import envelopes as e


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def config() -> app.Config:
    env = os.environ.get
    org, team = env("GH_TEAM_JOIN_ORG"), env("GH_TEAM_JOIN_TEAM")
    if not org or not team:
        raise RuntimeError("gh-team-join: set GH_TEAM_JOIN_ORG and GH_TEAM_JOIN_TEAM")
    repos = [r.strip() for r in (env("GH_TEAM_JOIN_REPOS") or "").split(",") if r.strip()]
    return app.Config(org=org, team=team, command=(env("GH_TEAM_JOIN_COMMAND") or "join").strip(),
                      repos=repos or None, dry_run=_flag("GH_TEAM_JOIN_DRY_RUN"),
                      slack_text=env("GH_TEAM_JOIN_SLACK_TEXT") or "Added to the team",
                      github_api_url=env("GITHUB_API_URL") or "https://api.github.com",
                      kms_token_file=env("GH_TEAM_JOIN_KMS_TOKEN_FILE") or None,
                      kms_slack_file=env("GH_TEAM_JOIN_KMS_SLACK_FILE") or None,
                      require_signature=_flag("GH_TEAM_JOIN_REQUIRE_SIGNATURE"),
                      state_dir=env("GH_TEAM_JOIN_STATE_DIR") or None)


def _response(status: int, body) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(body, separators=(",", ":"))}


def handler(event, context=None):
    proc = app.Processor(config())
    try:
        rid = getattr(context, "aws_request_id", None) or "event"
        items = e.deliveries(event)
        results = [proc.handle(rid, x) for x in items]
    finally:
        proc.close()
    for r in results:
        print(json.dumps(r, separators=(",", ":")), flush=True)
    if isinstance(event, dict) and "headers" in event and "body" in event:     # function URL / API GW
        r = results[0]
        if r["result"] == "refused":
            return _response(401, {"result": "refused", "reason": r["reason"]})
        if r["result"] == "malformed":
            return _response(400, {"result": "malformed", "reason": r["reason"]})
        if app.status_of(results) == app.EXIT_FAIL:
            return _response(502, r)
        return _response(200, r)
    if app.status_of(results) == app.EXIT_FAIL:
        raise RuntimeError("gh-team-join: " + "; ".join(
            r.get("reason", "") if r["result"] == "error" else str(r.get("slack")) for r in results
            if r["result"] == "error" or str(r.get("slack", "")).startswith("error")))
    return {"results": results}
