"""The plain modules: envelopes, signature, the command match, the redelivery state, Slack's 429."""
from __future__ import annotations

import base64
import json

import deliveries as dl
import pytest
from gh_team_join import decide, envelopes, remote, signature
from gh_team_join.state import Seen


def test_signature_matches_githubs_documented_example():
    # "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!"
    want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature.sign(b"It's a Secret to Everybody", b"Hello, World!") == want
    assert signature.verify(b"It's a Secret to Everybody", b"Hello, World!", want)
    assert not signature.verify(b"It's a Secret to Everybody", b"Hello, World!?", want)
    assert not signature.verify(b"other", b"Hello, World!", want)
    assert not signature.verify(b"x", b"y", None)
    assert dl.sig(b"Hello, World!") == want     # the tests' own signer agrees


@pytest.mark.parametrize("b64", [False, True])
def test_function_url_event(b64):
    ev = dl.function_url(dl.comment(), delivery="d-1", b64=b64)
    (d,) = envelopes.deliveries(ev)
    assert d.shape == "http" and d.id == "d-1" and d.event == "issue_comment"
    assert d.payload["comment"]["body"] == "join"
    assert d.body == json.dumps(dl.comment(), indent=1).encode()    # the raw bytes, as signed
    assert signature.check(d, dl.SECRET.encode(), False) is None


def test_form_encoded_body_and_mixed_case_headers():
    import urllib.parse

    raw = urllib.parse.urlencode({"payload": json.dumps(dl.comment())}).encode()
    ev = dl.function_url(None, raw=raw)
    ev["headers"] = {k.title(): v for k, v in ev["headers"].items()}
    ev["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
    (d,) = envelopes.deliveries(ev)
    assert d.payload["comment"]["user"]["login"] == "ijin2"
    assert signature.check(d, dl.SECRET.encode(), True) is None


def test_sns_shapes_and_raw_payload():
    (a,) = envelopes.deliveries(dl.sns(dl.comment(), message_id="m-1"))
    assert (a.shape, a.id, a.headers) == ("sns", "sns:m-1", None)
    ds = envelopes.deliveries(dl.sns_lambda(dl.comment("a"), dl.comment("b")))
    assert [d.payload["comment"]["user"]["login"] for d in ds] == ["a", "b"]
    (r,) = envelopes.deliveries(dl.comment())
    assert (r.shape, r.id) == ("webhook", None)
    assert [x.shape for x in envelopes.deliveries([dl.comment(), dl.sns(dl.comment())])] == ["webhook", "sns"]


@pytest.mark.parametrize("doc, why", [
    ({"hello": 1}, "not a GitHub delivery"),
    (3, "not a JSON object"),
    ({"Type": "Notification", "Message": "{nope"}, "SNS Message is not JSON"),
    ({"headers": {}, "body": "Zm9v!", "isBase64Encoded": True}, "not valid base64"),
    ({"headers": {}, "body": "[1]"}, "body is not a JSON object"),
    ({"Records": [{"nope": 1}]}, "Records[0] has no Sns"),
])
def test_malformed(doc, why):
    (m,) = envelopes.deliveries(doc)
    assert isinstance(m, envelopes.Malformed) and why in str(m)


def test_documents_one_pretty_document_or_ndjson():
    assert [n for n, _ in envelopes.documents(b"\n\n" + json.dumps(dl.comment(), indent=2).encode())] == [3]
    docs = envelopes.documents(dl.ndjson(dl.comment(), dl.comment()) + b"{bad\r\n\r\n" + dl.ndjson(dl.comment()))
    assert [n for n, _ in docs] == [1, 2, 3, 5]
    assert isinstance(docs[2][1], envelopes.Malformed)


@pytest.mark.parametrize("payload, event, repos, ok, reason", [
    (dl.comment(), "issue_comment", None, True, "command"),
    (dl.comment(body="  join\r\n"), None, None, True, "command"),
    (dl.comment(body="don't join"), None, None, False, "comment is not 'join'"),
    (dl.comment(body="join please"), None, None, False, "comment is not 'join'"),
    (dl.comment(body="Join"), None, None, False, "comment is not 'join'"),
    (dl.comment(action="edited"), None, None, False, "action edited, not created"),
    (dl.comment(action="deleted"), None, None, False, "action deleted, not created"),
    (dl.comment(user_type="Bot", login="dependabot[bot]"), None, None, False, "comment by a Bot"),
    (dl.comment(repo="other/repo"), None, ["my_org/test"], False, "repository other/repo not in --repo"),
    (dl.comment(repo="My_Org/Test"), None, ["my_org/test"], True, "command"),
    (dl.comment(), "push", None, False, "event push, not issue_comment"),
    ({"zen": "Keep it logically awesome.", "hook_id": 1}, None, None, False, "ping"),
])
def test_match(payload, event, repos, ok, reason):
    m = decide.match(payload, event, "join", repos)
    assert (m.ok, m.reason) == (ok, reason)


def test_signature_policy():
    payload = dl.comment()
    secret = dl.SECRET.encode()
    check = signature.check
    good = envelopes.deliveries(dl.function_url(payload))[0]
    unsigned_http = envelopes.deliveries(dl.function_url(payload, secret=None))[0]
    bad = envelopes.deliveries(dl.function_url(payload, secret="wrong"))[0]
    raw = envelopes.deliveries(payload)[0]
    assert check(good, secret, True) is None
    assert check(bad, secret, False) == "bad X-Hub-Signature-256"
    assert check(unsigned_http, secret, False) == "no X-Hub-Signature-256 header"
    assert check(raw, secret, False) is None and check(raw, secret, True) == "unsigned input (--require-signature)"
    assert check(bad, None, False) is None           # no secret configured: nothing to check against
    # the body as received is what is signed: a re-serialised payload fails
    tampered = envelopes.deliveries(dl.function_url(payload, signature=dl.sig(json.dumps(payload).encode())))[0]
    assert check(tampered, secret, False) == "bad X-Hub-Signature-256"


def test_seen_state_file_survives_a_new_run(tmp_path):
    s = Seen(str(tmp_path / "st"))
    with s:
        assert not s.seen("a")
        s.add("a")
        s.add(None)
    s.close()
    s2 = Seen(str(tmp_path / "st"))
    with s2:
        assert s2.seen("a") and not s2.seen("b")
    s2.close()
    assert (tmp_path / "st" / "deliveries").read_text() == "a\n"


def test_seen_shared_by_two_runs_and_a_torn_line(tmp_path):
    d = str(tmp_path)
    (tmp_path / "deliveries").write_bytes(b"old\ntorn-by-kill")     # a writer killed mid-line
    one, two = Seen(d), Seen(d)
    with one:
        assert one.seen("old") and not one.seen("torn-by-kill")
        one.add("a")
    with two:
        assert two.seen("a") and two.seen("old")
        two.add("b")
    with one:
        assert one.seen("b")
        one.add("c")
    one.close()
    two.close()
    assert (tmp_path / "deliveries").read_bytes() == b"old\ntorn-by-kill\na\nb\nc\n"
    three = Seen(d)
    with three:
        assert all(three.seen(x) for x in ("old", "a", "b", "c"))
    three.close()


def test_slack_429_waits_retry_after_once(slack):
    waits = []
    slack.answers = [(429, {"Retry-After": "2"}, "rate_limited")]
    assert remote.slack_post(slack.hook, {"text": "x"}, sleep=waits.append) == "ok"
    assert waits == [2.0] and len(slack.requests) == 2
    slack.answers = [(429, {"Retry-After": "1"}, "rate_limited")] * 2
    with pytest.raises(remote.HTTPFailure) as e:
        remote.slack_post(slack.hook, {"text": "x"}, sleep=waits.append)
    assert e.value.status == 429 and "after waiting Retry-After once" in e.value.reason
    assert waits == [2.0, 1.0] and len(slack.requests) == 4
    with pytest.raises(remote.HTTPFailure, match="Slack 400 invalid_payload") as e:
        remote.slack_post(slack.hook, {"username": "no text"})
    assert "XXXXSECRET" not in e.value.reason


def test_github_calls_send_the_required_headers(github):
    gh = remote.GitHub(github.url, "ghp_fake_token_for_tests")
    assert gh.membership("my_org", "reader", "ijin2") is None
    assert gh.add("my_org", "reader", "ijin2")["state"] == "pending"
    assert gh.membership("my_org", "reader", "ijin2")["state"] == "pending"
    for r in github.requests:
        h = r["headers"]
        assert h["user-agent"].startswith("gh-team-join/")
        assert h["accept"] == "application/vnd.github+json" and h["x-github-api-version"] == "2022-11-28"
    assert json.loads(github.requests[1]["body"]) == {"role": "member"}
    assert github.requests[1]["path"] == "/orgs/my_org/teams/reader/memberships/ijin2"


def test_b64_helper_roundtrip():
    ev = dl.function_url(dl.comment(), b64=True)
    assert json.loads(base64.b64decode(ev["body"]))["action"] == "created"
