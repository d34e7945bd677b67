"""gh-team-join's run: read the deliveries, check signatures, match the command, then GET the
membership, PUT it and post to Slack; one JSON line per delivery on stdout.

The GitHub token and the Slack URL are read when the first delivery needs them (so --dry-run and
input that asks nothing need neither); boto3 is imported only for a --kms-* file."""
from __future__ import annotations

import json
import sys

from . import creds, remote
from . import decide as d
from . import envelopes as e
from . import signature as s
from ._entry import write_all
from .state import Seen

PROG = "gh-team-join"
EXIT_OK, EXIT_FAIL, EXIT_DATA = 0, 1, 65


class Config:
    """What a run needs, from the command line or (the Lambda handler) the environment."""

    def __init__(self, *, org, team, command="join", repos=None, dry_run=False, slack_text="Added to the team",
                 role="member", github_api_url="https://api.github.com", token_file=None, kms_token_file=None,
                 slack_url_file=None, kms_slack_file=None, secret_file=None, require_signature=False,
                 state_dir=None, timeout=10.0):
        self.__dict__.update(locals())
        del self.__dict__["self"]


class Processor:
    def __init__(self, cfg: Config, sleep=None):
        self.cfg = cfg
        self.secret = creds.get("webhook secret", file=cfg.secret_file, env="GITHUB_WEBHOOK_SECRET",
                                required=False)
        self.secret = self.secret.encode() if self.secret is not None else None
        self.seen = Seen(cfg.state_dir)
        self._github = None
        self._slack = False     # False: not looked up yet; None: none configured
        self.sleep = sleep

    def close(self):
        self.seen.close()

    def github(self) -> remote.GitHub:
        if self._github is None:
            token = creds.get("GitHub token", file=self.cfg.token_file, kms_file=self.cfg.kms_token_file,
                              env="GITHUB_TOKEN")
            self._github = remote.GitHub(self.cfg.github_api_url, token, self.cfg.timeout)
        return self._github

    def slack_url(self) -> str | None:
        if self._slack is False:
            self._slack = creds.get("Slack webhook URL", file=self.cfg.slack_url_file,
                                    kms_file=self.cfg.kms_slack_file, env="SLACK_WEBHOOK_URL", required=False)
        return self._slack

    def handle(self, source: str, item) -> dict:
        """One delivery (or Malformed) -> its result line (a dict)."""
        if isinstance(item, e.Malformed):
            return {"source": source, "result": "malformed", "reason": str(item)}
        m = d.match(item.payload, item.event, self.cfg.command, self.cfg.repos)
        rec = {"source": source, "delivery": item.id, "repository": m.repository, "login": m.login}
        why = s.check(item, self.secret, self.cfg.require_signature)
        if why:
            return {**rec, "result": "refused", "reason": why}
        with self.seen:
            if self.seen.seen(item.id):
                return {**rec, "result": "skipped", "reason": "redelivery: this delivery was already handled"}
            rec = self._act(rec, m)
            if rec["result"] != "error" and not self.cfg.dry_run:
                self.seen.add(item.id)
        return rec

    def _act(self, rec: dict, m: d.Match) -> dict:
        cfg = self.cfg
        if not m.ok:
            return {**rec, "result": "skipped", "reason": m.reason}
        where = f"{cfg.org}/{cfg.team}"
        if cfg.dry_run:
            return {**rec, "result": "skipped", "reason": f"dry-run: would add {m.login} to {where}"}
        try:
            gh = self.github()
            have = gh.membership(cfg.org, cfg.team, m.login)
            if have and have.get("state") in ("active", "pending"):
                return {**rec, "result": "skipped", "reason": f"already {have['state']} in {where}",
                        "state": have["state"]}
            got = gh.add(cfg.org, cfg.team, m.login, cfg.role)
        except (remote.HTTPFailure, creds.CredentialError) as x:
            return {**rec, "result": "error", "reason": str(x)}
        rec = {**rec, "result": "acted", "reason": f"added to {where}", "state": got.get("state")}
        try:
            url = self.slack_url()
            if url is None:
                rec["slack"] = "not configured"
            else:
                msg = {"username": m.login, "icon_url": m.avatar_url, "text": cfg.slack_text}
                kw = {"sleep": self.sleep} if self.sleep else {}
                rec["slack"] = remote.slack_post(url, {k: v for k, v in msg.items() if v is not None},
                                                 timeout=cfg.timeout, **kw)
        except (remote.HTTPFailure, creds.CredentialError) as x:
            rec["slack"] = f"error: {x}"
        return rec


def status_of(results: list[dict]) -> int:
    """1 when anything failed (GitHub, Slack, a credential, a FILE); else 65 when a delivery was
    refused or malformed; else 0."""
    if any(r["result"] == "error" or str(r.get("slack", "")).startswith("error") for r in results):
        return EXIT_FAIL
    if any(r["result"] in ("refused", "malformed") for r in results):
        return EXIT_DATA
    return EXIT_OK


def items_of(data: bytes, name: str) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for line, doc in e.documents(data):
        src = f"{name}:{line}"
        if isinstance(doc, e.Malformed):
            items.append((src, doc))
        else:
            items += [(src, x) for x in e.deliveries(doc)]
    return items


def _line(r: dict) -> bytes:
    return json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"


def run(args, *, stdin, stdout, stderr) -> int:
    def say(text: str) -> None:
        stderr.write(f"{PROG}: {text}\n".encode("utf-8", "surrogateescape"))
        stderr.flush()

    cfg = Config(org=args.org, team=args.team, command=args.command, repos=args.repo, dry_run=args.dry_run,
                 slack_text=args.slack_text, role=args.role, github_api_url=args.github_api_url,
                 token_file=args.token_file, kms_token_file=args.kms_token_file,
                 slack_url_file=args.slack_url_file, kms_slack_file=args.kms_slack_file,
                 secret_file=args.secret_file, require_signature=args.require_signature,
                 state_dir=args.state_dir, timeout=args.timeout)
    try:
        proc = Processor(cfg)
    except (creds.CredentialError, OSError) as x:
        say(str(x))
        return EXIT_FAIL
    rc = EXIT_OK
    all_results: list[dict] = []
    try:
        for name in args.files or ["-"]:
            try:
                if name == "-":
                    data = stdin.read()
                else:
                    with open(name, "rb") as f:
                        data = f.read()
            except OSError as x:
                say(f"{name}: {x.strerror or x}")
                rc = EXIT_FAIL
                continue
            out = []
            for src, item in items_of(data, name):
                r = proc.handle(src, item)
                all_results.append(r)
                out.append(_line(r))
                if r["result"] == "error":
                    say(f"{src}: {r.get('login')}: {r['reason']}")
                elif str(r.get("slack", "")).startswith("error"):
                    say(f"{src}: {r.get('login')}: {r['slack'][len('error: '):]}")
                elif r["result"] == "refused":
                    say(f"{src}: refused: {r['reason']}")
            if out:
                write_all(stdout, b"".join(out))
                stdout.flush()
    finally:
        proc.close()
    bad = [r for r in all_results if r["result"] == "malformed"]
    if bad:
        more = f" (and {len(bad) - 1} more malformed)" if len(bad) > 1 else ""
        say(f"{bad[0]['source']}: {bad[0]['reason']}{more}")
    st = status_of(all_results)
    return EXIT_FAIL if EXIT_FAIL in (rc, st) else (st or rc)


if __name__ == "__main__":   # pragma: no cover
    sys.exit("use the gh-team-join command")
