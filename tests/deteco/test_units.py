"""The pure parts of deteco: URI normalisation, the configuration loader and linter, the cache
that never outlives freshness or exp, the decision for one request (with an injected clock)."""
from __future__ import annotations

import json

import pytest
from conftest import make_token, pem_public, toml_conf
from deteco import auth, config
from deteco.uri import BadURI, normalise
from hypothesis import given
from hypothesis import strategies as st

NOW = 1_800_000_000.0


@pytest.mark.parametrize("raw,want", [
    ("/allowed", "/allowed/"), ("/allowed/x?y=1#f", "/allowed/x/"), ("/allowed/../secret", "/secret/"),
    ("/allowed/%2e%2e/secret", "/secret/"), ("/allowed/%2E%2e/secret", "/secret/"), ("//allowed//x", "/allowed/x/"),
    ("/a/./b/.", "/a/b/"), ("/", "/"), ("/%41llowed", "/Allowed/"), ("http://h/allowed/x", "/allowed/x/"),
    ("/allowed/.%2e/x", "/x/"),
])
def test_normalise(raw, want):
    assert normalise(raw) == want


@pytest.mark.parametrize("raw", ["/allowed%2fx", "/allowed%2F..%2Fsecret", "/a%5cb", "/a\\b", "/a%00", "/a%zz",
                                 "/a%2", "/..", "/a/../..", "", "relative"])
def test_normalise_refuses(raw):
    with pytest.raises(BadURI):
        normalise(raw)


segs = st.lists(st.sampled_from(["a", "b", ".", "..", "", "%2e", "%2E%2e", "c%20d"]), max_size=8)


@given(segs)
def test_normalised_paths_have_no_dot_or_empty_segments(parts):
    raw = "/" + "/".join(parts)
    try:
        out = normalise(raw)
    except BadURI:
        return
    assert out.startswith("/") and out.endswith("/")
    inner = out.strip("/").split("/") if out != "/" else []
    assert all(s not in ("", ".", "..") for s in inner)
    assert normalise(out) == out                                  # idempotent


def test_config_loads_and_normalises_paths(keys):
    s = config.parse(toml_conf(keys))
    assert s["svc-a"].paths == ["/allowed/", "/also/"] and s["svc-b"].audience == "deteco-test"


@pytest.mark.parametrize("text,words", [
    ("", "no services"),
    ('[[services]]\nid = ""\npaths=["/a"]\npublic_keys=[]\n', "empty id"),
    ('[[services]]\nid = "x"\npaths=[]\npublic_keys=[]\n', "no paths"),
    ('[[services]]\nid = "x"\npaths=["/a"]\npublic_keys=[]\n', "no keys"),
    ('[[services]]\nid = "x"\npaths=["/a"]\npublic_keys=["nope"]\n', "unparseable key"),
    ('[[services]]\nid = "x"\npaths=["/a/../b"]\npublic_keys=["nope"]\n', "dot segment"),
    ('[[services]]\nid = "x"\npaths=["/a%2fb"]\npublic_keys=["nope"]\n', "percent-encoded"),
    ('[[services]]\nid = "x"\npaths=["/a//b"]\npublic_keys=["nope"]\n', "empty segment"),
    ("[[services]\n", "c.toml"),
])
def test_config_errors(text, words):
    with pytest.raises(config.ConfigError, match=words):
        config.parse(text, "c.toml")


def test_config_duplicate_id_and_lint_warnings(keys):
    one = f'[[services]]\nid = "x"\npaths=["/a", "/a/b", "/"]\npublic_keys=["""{pem_public(keys["rsa"])}"""]\n'
    s = config.parse(one)
    assert len(s["x"].warnings) == 4 and "path '/' allows every URI" in s["x"].warnings
    with pytest.raises(config.ConfigError, match="duplicate id"):
        config.parse(one + one)


def _services(keys):
    return config.parse(toml_conf(keys))


def test_decide(keys):
    sv, cache = _services(keys), auth.Cache(100, 10)
    tok = make_token(keys["rsa"], now=NOW)
    d = auth.decide(f"Bearer {tok}", "/allowed/x", sv, cache, 3600, NOW)
    assert (d.status, d.service, d.cached) == (200, "svc-a", False)
    assert auth.decide(f"Bearer {tok}", "/also", sv, cache, 3600, NOW).cached
    for uri in ["/secret", "/allowed/../secret", "/allowed/%2e%2e/secret", "/allowedx", "/allowed%2fx"]:
        assert auth.decide(f"Bearer {tok}", uri, sv, cache, 3600, NOW).status == 403, uri
    assert auth.decide(None, "/allowed", sv, cache, 3600, NOW).status == 401
    assert auth.decide("Bearer " + make_token(keys["rsa2"], now=NOW), "/allowed", sv, cache, 3600, NOW).status == 401
    assert auth.decide("Bearer " + make_token(keys["rsa"], sub="nobody", now=NOW), "/allowed", sv, cache, 3600,
                       NOW).reason == "unknown sub"
    # svc-b requires aud
    b = make_token(keys["ec"], "ES256", sub="svc-b", now=NOW)
    assert auth.decide(b, "/b", sv, cache, 3600, NOW).reason == "wrong aud"
    b = make_token(keys["ec"], "ES256", sub="svc-b", now=NOW, aud="deteco-test")
    assert auth.decide(b, "/b/1", sv, cache, 3600, NOW).status == 200
    # a token of svc-a signed by svc-b's key is not svc-a
    forged = make_token(keys["ec"], "ES256", sub="svc-a", now=NOW)
    assert auth.decide(forged, "/allowed", sv, cache, 3600, NOW).status == 401


def test_cache_never_outlives_freshness_or_exp(keys):
    sv, cache = _services(keys), auth.Cache(100, 10)
    tok = make_token(keys["rsa"], now=NOW, exp_in=100)
    assert auth.decide(tok, "/allowed", sv, cache, 30, NOW).status == 200
    assert auth.decide(tok, "/allowed", sv, cache, 30, NOW + 30).cached
    d = auth.decide(tok, "/allowed", sv, cache, 30, NOW + 31)          # upstream: still 200 from the cache
    assert (d.status, d.reason) == (401, "iat too old")
    tok = make_token(keys["rsa"], now=NOW, exp_in=10)
    assert auth.decide(tok, "/allowed", sv, cache, 3600, NOW).status == 200
    assert auth.decide(tok, "/allowed", sv, cache, 3600, NOW + 10).status == 401


def test_cache_size_and_prune():
    c = auth.Cache(3, 2)
    for i in range(3):
        c.put(f"t{i}", "s", {"exp": NOW + 10, "iat": NOW})
    c.put("t3", "s", {"exp": NOW + 10, "iat": NOW})
    assert list(c.d) == ["t2", "t3"]
    z = auth.Cache(0, 1)
    z.put("t", "s", {"exp": NOW + 10, "iat": NOW})
    assert z.get("t", NOW, 60) is None


def test_jwks_files_issuer_and_nbf(keys, tmp_path):
    import json

    import jwt
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["ec"].public_key()))
    jwk["kid"] = "2026-12"
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "svc.jwks").write_text(json.dumps({"keys": [jwk]}))
    conf = tmp_path / "c.toml"
    conf.write_text('[[services]]\nid = "j"\npaths = ["/j"]\njwks_files = ["keys/svc.jwks"]\nissuer = "ops"\n')
    sv, cache = config.load(str(conf)), auth.Cache(10, 1)
    ok = make_token(keys["ec"], "ES256", sub="j", now=NOW, iss="ops", headers={"kid": "2026-12"})
    assert auth.decide(ok, "/j/x", sv, cache, 60, NOW).status == 200
    assert auth.decide(make_token(keys["ec"], "ES256", sub="j", now=NOW, iss="dev", headers={"kid": "2026-12"}),
                       "/j/x", sv, cache, 60, NOW).reason == "wrong iss"
    assert auth.decide(make_token(keys["ec"], "ES256", sub="j", now=NOW, iss="ops", headers={"kid": "old"}),
                       "/j/x", sv, cache, 60, NOW).reason == "unknown kid"
    later = make_token(keys["ec"], "ES256", sub="j", now=NOW, iss="ops", nbf=int(NOW) + 30, headers={"kid": "2026-12"})
    assert auth.decide(later, "/j/x", sv, cache, 60, NOW).reason == "not yet valid (nbf)"
    conf.write_text('[[services]]\nid = "j"\npaths = ["/j"]\njwks_files = ["keys/missing.jwks"]\n')
    with pytest.raises(config.ConfigError, match="missing.jwks"):
        config.load(str(conf))


def test_memo_hit_checks_exp_freshness_and_reload(keys):
    sv, cache = _services(keys), auth.Cache(100, 10)
    tok = make_token(keys["rsa"], now=NOW, exp_in=100)
    h = f"Bearer {tok}"
    assert auth.decide(h, "/allowed/x", sv, cache, 30, NOW).cached is False
    assert (h, "/allowed/x") in cache.memo
    d = auth.decide(h, "/allowed/x", sv, cache, 30, NOW + 30)
    assert (d.status, d.cached, d.path) == (200, True, "/allowed/x/")
    assert auth.decide(h, "/secret", sv, cache, 30, NOW + 1).status == 403
    assert auth.decide(h, "/secret", sv, cache, 30, NOW + 2).cached                # a memoised 403
    d = auth.decide(h, "/allowed/x", sv, cache, 30, NOW + 31)
    assert (d.status, d.reason) == (401, "iat too old") and (h, "/allowed/x") not in cache.memo
    # another services mapping (a reload) never answers from the old memo
    tok = make_token(keys["rsa"], now=NOW, exp_in=100)
    auth.decide(tok, "/allowed", sv, cache, 3600, NOW)
    other = _services(keys)
    other["svc-a"].paths = ["/elsewhere/"]
    assert auth.decide(tok, "/allowed", other, cache, 3600, NOW).status == 403
    # exp in the memo; nothing memoised when the cache is off
    tok = make_token(keys["rsa"], now=NOW, exp_in=10)
    assert auth.decide(tok, "/allowed", sv, cache, 3600, NOW + 9.5).status == 200
    assert auth.decide(tok, "/allowed", sv, cache, 3600, NOW + 10).status == 401
    off = auth.Cache(0, 1)
    assert auth.decide(tok, "/allowed", sv, off, 3600, NOW).status == 200 and not off.memo


def test_memo_is_bounded():
    c = auth.Cache(2, 1)
    c.put("t", "s", {"exp": NOW + 10, "iat": NOW})
    d = auth.Decision(200, "s", "/a/")
    for i in range(20):
        c.remember("Bearer t", f"/a/{i}", d, {}, "t")
        assert len(c.memo) <= 8
    c.remember("Bearer t", "/" + "a" * 5000, d, {}, "t")
    assert ("Bearer t", "/" + "a" * 5000) not in c.memo


@pytest.mark.parametrize("fmt", ["json", "ltsv"])
@pytest.mark.parametrize("service,path,peer", [
    ("svc-a", "/allowed/x/", "127.0.0.1:5555"), ('sv"c\\', "/é/\udcff/\t\n/", "[::1]:80"),
    ("s", "/a\u2028b/\x7f/", "/run/x.sock")])
def test_authorized_line_is_loggers_line(monkeypatch, fmt, service, path, peer):
    """The request log's fast `Authorized` line (the daemon template's Logger.fragment and
    Logger.prepared, fragments kept per decision) is byte for byte Logger.line's."""
    import io

    from deteco import logs, server
    log = logs.Logger(fmt, io.BytesIO())
    w = server.RequestLog(log)
    for ts, took, cached in [(1765000000.123456, 1.2e-05, True), (1765000000.5, 0.25, False)]:
        monkeypatch.setattr(logs.time, "time", lambda: ts)
        want = log.line("info", "Authorized", service=service, path=path,
                        **{"req-id": "1a-2b-3", "remote-addr": peer, "cache": cached, "duration": took})
        d = auth.Decision(200, service, path, cached=cached)
        assert w.authorized(d, "1a-2b-3", log.fragment("remote-addr", peer), took, ts) == want
        assert w.authorized(d, "1a-2b-3", log.fragment("remote-addr", peer), took, ts) == want   # kept fragments


_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
            | st.text(st.sampled_from("a\t\n\r\\\"é\udcff\u2028\x00")))
_values = st.recursive(_scalars, lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=3), v, max_size=3),
                       max_leaves=6)


@given(fmt=st.sampled_from(["json", "ltsv"]), level=st.text(max_size=5), msg=st.text(max_size=8),
       ts=st.floats(0, 4e9).map(lambda t: round(t, 6)),
       fields=st.dictionaries(st.text(max_size=6).filter(lambda k: k not in ("level", "ts", "msg")), _values,
                              max_size=5))
def test_template_fragments_make_loggers_line(fmt, level, msg, ts, fields):
    """Logger.prepared over the join of Logger.fragment is Logger.line, byte for byte, whatever
    the values (None left out, NaN and infinities, lone surrogates, nested values)."""
    import io
    from unittest import mock

    from deteco import logs
    log = logs.Logger(fmt, io.BytesIO())
    with mock.patch.object(logs.time, "time", lambda: ts):
        want = log.line(level, msg, **fields)
    assert log.prepared(level, msg, ts, "".join(log.fragment(k, v) for k, v in fields.items())) == want


def test_batch_writes_pending_lines_together_and_at_close():
    """A Batch bound to a loop writes its lines in one write, delay after the first; unbound (or
    closed), at once."""
    import asyncio
    import io

    from deteco import logs

    class Stream(io.BytesIO):
        writes = 0

        def write(self, b):
            self.writes += 1
            return super().write(b)

    stream = Stream()
    b = logs.Batch(logs.Logger("json", stream), delay=0.05)
    b.line("info", "one")
    assert stream.writes == 1                           # no loop: at once

    async def go():
        b.bind(asyncio.get_running_loop())
        b.line("info", "two")
        b.add(b"three\n")
        assert stream.writes == 1                       # pending
        await asyncio.sleep(0.2)
        assert stream.writes == 2                       # one write for both
        b.line("info", "four")
        b.close()                                       # on the way out: nothing lost
        assert stream.writes == 3
        b.line("info", "five")
        assert stream.writes == 4
    asyncio.run(go())
    lines = stream.getvalue().splitlines()
    assert [json.loads(x)["msg"] if x.startswith(b"{") else x.decode() for x in lines] == [
        "one", "two", "three", "four", "five"]


def test_repeated_request_bytes_are_parsed_once_but_decided_each_time(keys):
    """The server keeps parsed requests by their bytes (nginx repeats them): the decision and its
    exp/freshness checks still run for every request."""
    import asyncio
    import io

    from deteco import logs, server
    now = [NOW]
    cfg = server.Config(listeners=[], conf_path="-", freshness=30, clock=lambda: now[0])
    sent = []

    class Transport:
        def write(self, b):
            sent.append(b)

        def close(self):
            sent.append(None)

        def get_extra_info(self, k):
            return ("127.0.0.1", 5555)

    async def go():
        srv = server.Server(cfg, _services(keys), logs.Logger("json", io.BytesIO()))
        c = server.Connection(srv)
        c.connection_made(Transport())
        tok = make_token(keys["rsa"], now=NOW, exp_in=100)
        req = f"GET /auth HTTP/1.1\r\nAuthorization: Bearer {tok}\r\nX-Original-URI: /allowed/x\r\n\r\n".encode()
        for t in (0, 10, 31):
            now[0] = NOW + t
            c.data_received(req)
        assert req in srv.heads
        c.data_received(b"HEAD /live HTTP/1.0\r\n\r\n")
        c.data_received(b"HEAD /live HTTP/1.0\r\n\r\n")     # after the close: ignored
        c = server.Connection(srv)
        c.connection_made(Transport())
        c.data_received(b"HEAD /live HTTP/1.0\r\n\r\n")     # memoised, and still closes
        return srv
    srv = asyncio.run(go())
    assert [s.split(b"\r\n")[0] if s else s for s in sent] == [
        b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 200 OK", None,
        b"HTTP/1.1 200 OK", None]
    assert sent[3] == sent[5] and sent[3].endswith(b"Connection: close\r\n\r\n")
    lines = srv.log.stream.getvalue().decode().splitlines()
    assert [json.loads(x)["msg"] for x in lines] == ["Authorized", "Authorized", "Unauthorized"]


@pytest.mark.parametrize("tok", ["abc", "a.b", "a.!!!.c", "e30.bm90IGpzb24.x", "e30.WzFd.x", "e30.\u00e9.x",
                                 "e30.eyJzdWIiOiJzdmMtYSJ9", "a.b.c.d"])
def test_malformed_tokens_are_401_malformed(keys, tok):
    d = auth.decide(f"Bearer {tok}", "/allowed", _services(keys), auth.Cache(10, 1), 3600, NOW)
    assert (d.status, d.reason) == (401, "malformed token")


def test_unverified_sub_reads_what_pyjwt_reads(keys):
    import jwt
    tok = make_token(keys["rsa"], now=NOW)
    assert auth.unverified_sub(tok) == jwt.decode(tok, options={"verify_signature": False})["sub"] == "svc-a"


def test_idle_server_stops_without_waiting_on_a_timer(keys):
    """SIGTERM to an idle deteco (no connection; one came and went): run() returns 0 within a few
    loop iterations, so no sleep, timeout or timer lies in the stop path of an idle server (the
    request log still flushed on the way out). Counted in iterations, not timed."""
    import asyncio
    import io
    import os
    import signal
    import socket

    from deteco import logs, server
    lsock = socket.create_server(("127.0.0.1", 0))
    cfg = server.Config(listeners=[lsock], conf_path="-", shutdown_timeout=30, idle_timeout=60)
    stream = io.BytesIO()

    async def go():
        srv = server.Server(cfg, _services(keys), logs.Logger("json", stream))
        task = asyncio.ensure_future(srv.run())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if srv.stopping is not None and b'"listening"' in stream.getvalue():
                break
        r, w = await asyncio.open_connection(*lsock.getsockname()[:2])
        w.write(b"GET /live HTTP/1.1\r\n\r\n")
        assert (await r.readline()).startswith(b"HTTP/1.1 200")
        w.close()
        await w.wait_closed()
        for _ in range(500):
            await asyncio.sleep(0.01)
            if not srv.conns:
                break
        os.kill(os.getpid(), signal.SIGTERM)
        for n in range(20):
            await asyncio.sleep(0)
            if task.done():
                break
        assert task.done(), "run() still waiting 20 loop iterations after SIGTERM"
        return task.result(), n
    rc, n = asyncio.run(go())
    assert rc == 0
    assert b'"shutting down","requests":0' in stream.getvalue()
