"""gh-team-join: a GitHub 'join' issue comment adds its author to a team and tells Slack.

The command line only: parse, validate, and hand one function (app.run) to the suite's entry
template (_entry.run: exit codes, closed pipes, signals, write errors). The work lives in
envelopes.py (input shapes), signature.py, decide.py (the command match), remote.py (GitHub and
Slack over urllib), state.py (the redelivery guard) and app.py; boto3 only in creds.py, only
for a --kms-* file."""
from __future__ import annotations

import os
import sys

from gh_team_join import __version__, _entry

PROG = "gh-team-join"
POLICY = _entry.SUITE


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(
        prog=PROG, policy=POLICY, go_flags=False,
        description="Read GitHub issue_comment deliveries (a raw webhook payload, a Lambda function URL / "
                    "API Gateway event, an SNS envelope; one JSON document or NDJSON) and add the author of "
                    "a comment that is exactly the command to the team, then post to Slack. One JSON result "
                    "line per delivery on stdout. Secrets come from the environment or files, never argv.",
        epilog="environment: GITHUB_TOKEN, SLACK_WEBHOOK_URL, GITHUB_WEBHOOK_SECRET, GITHUB_API_URL; "
               "exit status: 0 every delivery acted on or skipped, 1 a GitHub/Slack/credential error or "
               "unreadable FILE, 2 usage, 65 a refused or malformed delivery (the others are still processed)")
    ap.add_argument("files", nargs="*", metavar="FILE",
                    help="input files, read in order (none or -: standard input)")
    ap.add_argument("--org", required=True, help="the organization that owns the team")
    ap.add_argument("--team", required=True, metavar="SLUG", help="the team's slug")
    ap.add_argument("--command", default="join", help="the comment that asks to join (default: join)")
    ap.add_argument("--repo", action="append", metavar="OWNER/NAME",
                    help="act only on comments in this repository (repeatable; default: any)")
    ap.add_argument("-n", "--dry-run", action="store_true",
                    help="match and check signatures, say who would be added; no GitHub or Slack call")
    ap.add_argument("--slack-text", default="Added to the team", help="the Slack message text")
    ap.add_argument("--role", default="member", choices=["member", "maintainer"],
                    help="the team role to give (default: member)")
    ap.add_argument("--github-api-url", default=os.environ.get("GITHUB_API_URL") or "https://api.github.com",
                    help="GitHub API base URL (default: GITHUB_API_URL, else https://api.github.com)")
    ap.add_argument("--token-file", metavar="FILE", help="file holding the GitHub token (default: GITHUB_TOKEN)")
    ap.add_argument("--kms-token-file", metavar="FILE",
                    help="file holding the GitHub token as base64 KMS ciphertext (decrypted with boto3)")
    ap.add_argument("--slack-url-file", metavar="FILE",
                    help="file holding the Slack incoming-webhook URL (default: SLACK_WEBHOOK_URL; none: no post)")
    ap.add_argument("--kms-slack-file", metavar="FILE",
                    help="file holding the Slack webhook URL as base64 KMS ciphertext")
    ap.add_argument("--secret-file", metavar="FILE",
                    help="file holding the webhook secret (default: GITHUB_WEBHOOK_SECRET)")
    ap.add_argument("--require-signature", action="store_true",
                    help="refuse unsigned input (raw payloads, SNS) and HTTP events without a valid signature")
    ap.add_argument("--state-dir", metavar="DIR",
                    help="keep the handled delivery ids in DIR/deliveries (redelivery guard across runs)")
    ap.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                    help="per HTTP request (default: 10)")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse_args(argv: list[str] | None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.token_file and args.kms_token_file:
        ap.error("--token-file and --kms-token-file: give one")
    if args.slack_url_file and args.kms_slack_file:
        ap.error("--slack-url-file and --kms-slack-file: give one")
    if args.require_signature and not (args.secret_file or os.environ.get("GITHUB_WEBHOOK_SECRET")):
        ap.error("--require-signature needs a webhook secret (GITHUB_WEBHOOK_SECRET or --secret-file)")
    if not args.command.strip():
        ap.error("--command is empty")
    args.command = args.command.strip()
    if not args.github_api_url.startswith(("http://", "https://")):
        ap.error(f"--github-api-url {args.github_api_url!r} is not an http(s) URL")
    if args.timeout <= 0:
        ap.error("--timeout must be positive")
    return args


def main(argv: list[str] | None = None, *, stdin=None, stdout=None, stderr=None) -> int:
    """The console script (argv None: sys.argv) and the tests' in-process entry (byte streams)."""
    def body() -> int:
        args = parse_args(argv)
        from gh_team_join import app
        return app.run(args, stdin=stdin or sys.stdin.buffer, stdout=stdout or sys.stdout.buffer,
                       stderr=stderr or sys.stderr.buffer)

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)
