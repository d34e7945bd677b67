"""gh-team-join end to end: the console script as a subprocess (and main() in process) against
the loopback GitHub and Slack fakes; KMS through moto's server; the Lambda handler."""
from __future__ import annotations

import base64
import io
import json
import pathlib
import shutil
import subprocess
import sys

import deliveries as dl
import pytest
from conftest import ORG, TEAM, TOKEN
from gh_team_join.cli import main

BASE = ["--org", ORG, "--team", TEAM]


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / "gh-team-join"
    return str(p) if p.exists() else shutil.which("gh-team-join")


def run(args, env, input=b""):
    r = subprocess.run([exe(), *args], input=input, env=env, capture_output=True, timeout=60)
    return r.returncode, [json.loads(x) for x in r.stdout.splitlines()], r.stderr.decode()


def call(args, input=b""):
    out, err = io.BytesIO(), io.BytesIO()
    rc = main(list(args), stdin=io.BytesIO(input), stdout=out, stderr=err)
    return rc, [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue().decode()


def test_acted_then_skipped_signed_sns_and_no_secret_in_output(env, github, slack, tmp_path):
    sec = tmp_path / "secret"
    sec.write_text(dl.SECRET + "\n")
    data = dl.ndjson(
        dl.function_url(dl.comment("ijin2"), delivery="d-1"),                  # signed, acts
        dl.function_url(dl.comment("bob", body="don't join"), delivery="d-2"),  # not the command
        dl.sns(dl.comment("carol")),                                           # the post's path, unsigned
        dl.function_url(dl.comment("mallory"), delivery="d-4", secret="guess"),  # bad signature
        dl.function_url(dl.comment("ijin2"), delivery="d-5"))                  # already pending
    rc, out, err = run([*BASE, "--secret-file", str(sec)], env, data)
    assert rc == 65, err
    got = [(o["source"], o["login"], o["result"], o["reason"]) for o in out]
    assert got == [("-:1", "ijin2", "acted", "added to my_org/reader"),
                   ("-:2", "bob", "skipped", "comment is not 'join'"),
                   ("-:3", "carol", "acted", "added to my_org/reader"),
                   ("-:4", "mallory", "refused", "bad X-Hub-Signature-256"),
                   ("-:5", "ijin2", "skipped", "already pending in my_org/reader")]
    assert out[0]["delivery"] == "d-1" and out[0]["repository"] == "my_org/test" and out[0]["slack"] == "ok"
    assert github.members == {(ORG, TEAM, "ijin2"): "pending", (ORG, TEAM, "carol"): "pending"}
    posts = [json.loads(r["body"]) for r in slack.requests]
    assert posts == [{"username": "ijin2", "icon_url": dl.comment("ijin2")["comment"]["user"]["avatar_url"],
                      "text": "Added to the team"},
                     {"username": "carol", "icon_url": dl.comment("carol")["comment"]["user"]["avatar_url"],
                      "text": "Added to the team"}]
    assert "-:4: refused: bad X-Hub-Signature-256" in err
    for secret in (TOKEN, "XXXXSECRET", dl.SECRET):
        assert secret not in err and all(secret not in json.dumps(o) for o in out)
    assert "Traceback" not in err


def test_redelivery_never_acts_twice(env, github, slack, tmp_path):
    ev = dl.function_url(dl.comment("dave"), delivery="same-guid")
    state = ["--state-dir", str(tmp_path / "state")]
    rc, out, _ = call([*BASE, *state], dl.ndjson(ev, ev))
    assert rc == 0 and [o["result"] for o in out] == ["acted", "skipped"]
    assert out[1]["reason"].startswith("redelivery")
    # a later run (the membership left meanwhile): the state file still remembers the GUID
    github.members.clear()
    rc, out, _ = run([*BASE, *state], env, dl.ndjson(ev))
    assert rc == 0 and out[0]["reason"].startswith("redelivery"), out
    assert len(slack.requests) == 1 and [r["method"] for r in github.requests] == ["GET", "PUT"]
    # without a state dir, the membership GET is the guard: pending -> skipped, no post
    github.members[(ORG, TEAM, "dave")] = "active"
    rc, out, _ = call(BASE, dl.ndjson(ev))
    assert out[0]["reason"] == "already active in my_org/reader" and len(slack.requests) == 1


@pytest.mark.parametrize("case, status, fragment", [
    ("token", 401, "GitHub 401 bad or expired token on GET /orgs/my_org/teams/reader/memberships/ijin2"),
    ("team", 404, "GitHub 404 unknown org or team"),
    ("login", 422, "GitHub 422 validation failed on PUT"),
    ("rate", 403, "GitHub 403 rate limited"),
])
def test_github_errors_are_exit_1_with_one_line(env, github, slack, case, status, fragment):
    args, payload = list(BASE), dl.comment("ijin2")
    if case == "token":
        env = {**env, "GITHUB_TOKEN": "ghp_wrong"}
    elif case == "team":
        args[3] = "no-such-team"
    elif case == "login":
        payload = dl.comment("some-org")
    else:
        github.forbid = True
    rc, out, err = run(args, env, dl.ndjson(payload, dl.comment("x", body="hello")))
    assert rc == 1, err
    assert [o["result"] for o in out] == ["error", "skipped"]
    assert fragment in out[0]["reason"] and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "ghp_wrong" not in err
    assert slack.requests == []


def test_slack_429_then_ok_and_invalid_payload(env, github, slack):
    slack.answers = [(429, {"Retry-After": "0"}, "rate_limited")]
    rc, out, err = call(BASE, dl.ndjson(dl.comment("erin")))
    assert rc == 0 and out[0]["slack"] == "ok" and len(slack.requests) == 2, err
    slack.answers = [(400, {}, "invalid_payload")]
    rc, out, err = call(BASE, dl.ndjson(dl.comment("frank")))
    assert rc == 1 and out[0]["result"] == "acted" and out[0]["slack"] == "error: Slack 400 invalid_payload"
    assert "frank: Slack 400 invalid_payload" in err


def test_require_signature_dry_run_repo_allowlist_and_bots(env, github, slack):
    env = {**env, "GITHUB_WEBHOOK_SECRET": dl.SECRET}
    data = dl.ndjson(dl.comment("a"), dl.function_url(dl.comment("b"), b64=True),
                     dl.function_url(dl.comment("c"), secret=None),
                     dl.function_url(dl.comment("d", repo="my_org/other")),
                     dl.function_url(dl.comment("renovate[bot]", user_type="Bot")))
    rc, out, err = run([*BASE, "--require-signature", "--dry-run", "--repo", "my_org/test"], env, data)
    assert rc == 65, err
    assert [(o["login"], o["result"], o["reason"]) for o in out] == [
        ("a", "refused", "unsigned input (--require-signature)"),
        ("b", "skipped", "dry-run: would add b to my_org/reader"),
        ("c", "refused", "no X-Hub-Signature-256 header"),
        ("d", "skipped", "repository my_org/other not in --repo"),
        ("renovate[bot]", "skipped", "comment by a Bot")]
    assert github.requests == [] and slack.requests == []


def test_usage_errors():
    assert call([])[0] == 2
    assert call([*BASE, "--require-signature"])[0] == 2          # no secret to check with
    r = subprocess.run([exe(), *BASE, "--no-such-option"], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"gh-team-join: error: " in r.stderr
    r = subprocess.run([exe(), "--version"], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"gh-team-join ")


def test_no_token_is_exit_1_files_in_order_and_closed_pipe(tmp_path, github):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_bytes(json.dumps(dl.comment("x", body="hi"), indent=2).encode())
    b.write_bytes(dl.ndjson(dl.comment("y")))
    rc, out, err = run([*BASE, str(a), str(tmp_path / "missing"), str(b)],
                       {"PATH": "/usr/bin:/bin", "GITHUB_API_URL": github.url})
    assert rc == 1
    assert f"gh-team-join: {tmp_path / 'missing'}: No such file or directory" in err
    assert [(o["source"], o["result"]) for o in out] == [(f"{a}:1", "skipped"), (f"{b}:1", "error")]
    assert "no GitHub token" in out[1]["reason"] and github.requests == []
    p = subprocess.Popen([exe(), *BASE, "--dry-run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()
    _, err = p.communicate(dl.ndjson(*[dl.comment(f"u{i}") for i in range(3000)]), timeout=60)
    assert (p.returncode, err) == (141, b"")


def test_malformed_is_65_and_the_others_still_processed(env, github):
    rc, out, err = call(BASE, b"{not json\n" + dl.ndjson({"hello": 1}, dl.comment("g")))
    assert rc == 65 and [o["result"] for o in out] == ["malformed", "malformed", "acted"]
    assert "-:1: not JSON" in err and "and 1 more malformed" in err


def _kms_file(moto_server, tmp_path, name, plaintext):
    import boto3

    kms = boto3.client("kms", endpoint_url=moto_server.url, region_name="us-west-2")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=plaintext.encode())["CiphertextBlob"]
    p = tmp_path / name
    p.write_text(base64.b64encode(blob).decode() + "\n")
    return p


def test_kms_token_and_slack_files(moto_server, github, slack, tmp_path, monkeypatch):
    tok = _kms_file(moto_server, tmp_path, "token.kms", TOKEN)
    hook = _kms_file(moto_server, tmp_path, "slack.kms", slack.hook)
    env = {**__import__("os").environ, "AWS_ENDPOINT_URL": moto_server.url, "GITHUB_API_URL": github.url}
    rc, out, err = run([*BASE, "--kms-token-file", str(tok), "--kms-slack-file", str(hook)], env,
                       dl.ndjson(dl.comment("kim")))
    assert rc == 0, err
    assert out[0]["result"] == "acted" and out[0]["slack"] == "ok" and len(slack.requests) == 1
    assert github.requests[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    bad = tmp_path / "bad.kms"
    bad.write_text(base64.b64encode(b"not a ciphertext").decode())
    rc, out, err = run([*BASE, "--kms-token-file", str(bad)], env, dl.ndjson(dl.comment("lee")))
    assert rc == 1 and "KMS decrypt of" in out[0]["reason"] and "Traceback" not in err


def test_help_does_not_import_boto3():
    code = ("import sys; from gh_team_join.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "sys.stderr.write(str(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('boto3', 'botocore', 'gh_team_join'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    mods = r.stderr.decode()
    assert "boto" not in mods and "gh_team_join.cli" in mods and "gh_team_join.app" not in mods


def test_lambda_handler_function_url_and_sns(env, github, slack, monkeypatch, capsys):
    from gh_team_join import handler

    monkeypatch.setenv("GH_TEAM_JOIN_ORG", ORG)
    monkeypatch.setenv("GH_TEAM_JOIN_TEAM", TEAM)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", dl.SECRET)
    r = handler(dl.function_url(dl.comment("hana"), b64=True), None)
    assert r["statusCode"] == 200 and json.loads(r["body"])["result"] == "acted"
    r = handler(dl.function_url(dl.comment("ivan"), secret="nope"), None)
    assert r["statusCode"] == 401 and json.loads(r["body"])["reason"] == "bad X-Hub-Signature-256"
    r = handler({"version": "2.0", "headers": {}, "body": "{oops"}, None)
    assert r["statusCode"] == 400
    assert (ORG, TEAM, "ivan") not in github.members
    res = handler(dl.sns_lambda(dl.comment("jo"), dl.comment("hana")), None)
    assert [x["result"] for x in res["results"]] == ["acted", "skipped"]
    assert len(capsys.readouterr().out.splitlines()) == 5
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong")
    r = handler(dl.function_url(dl.comment("kai")), None)
    assert r["statusCode"] == 502 and "GitHub 401" in json.loads(r["body"])["reason"]
    with pytest.raises(RuntimeError, match="GitHub 401"):
        handler(dl.sns_lambda(dl.comment("kai")), None)


def test_api_url_flag_wins_over_the_environment_and_unreachable_is_exit_1(env, github, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")          # nothing listens there
    rc, out, err = call(BASE, dl.ndjson(dl.comment("nina")))
    assert rc == 1 and out[0]["result"] == "error" and "cannot reach 127.0.0.1:9" in err
    rc, out, err = call([*BASE, "--github-api-url", github.url + "/"], dl.ndjson(dl.comment("nina")))
    assert rc == 0 and out[0]["result"] == "acted", err
    assert github.requests[0]["path"] == "/orgs/my_org/teams/reader/memberships/nina"
