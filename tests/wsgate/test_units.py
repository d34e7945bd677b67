"""The pure parts: the two map files (line-numbered errors) and JWT verification (algorithms,
rotation, kid, exp/iat/nbf with an injected clock, the classic attacks), token signing."""
from __future__ import annotations

import base64
import json

import jwt
import pytest
from conftest import make_token, pem_private, pem_public
from hypothesis import given
from hypothesis import strategies as st
from wsgate import mapfile, tokens
from wsgate.client import iap_assertion, parse_header

NOW = 1_800_000_000.0


# -- map files ---------------------------------------------------------------------------------
def test_server_map_lines_comments_and_allow_lists():
    m = mapfile.parse_server_map("# c\n  # indented comment\nmysql,127.0.0.1:3306\r\n"
                                 "pg,[::1]:5432,alice|bob\nweb, db.internal:80 \n")
    assert set(m) == {"mysql", "pg", "web"}
    assert (m["mysql"].host, m["mysql"].port, m["mysql"].allow) == ("127.0.0.1", 3306, None)
    assert m["pg"].addr == "[::1]:5432" and m["pg"].allow == {"alice", "bob"}
    assert m["web"].host == "db.internal"


@pytest.mark.parametrize("text,line,words", [
    ("a,127.0.0.1:1\n\nb,127.0.0.1:2\n", 2, "blank line"),
    ("a,127.0.0.1:1\nb 127.0.0.1:2\n", 2, "no comma"),
    ("a,127.0.0.1\n", 1, "bad address"),
    ("a,127.0.0.1:99999\n", 1, "bad port"),
    ("a,::1:3306\n", 1, "IPv6"),
    ("#x\na,127.0.0.1:1\na,127.0.0.1:2\n", 3, "duplicate"),
    ("a/b,127.0.0.1:1\n", 1, "bad destination name"),
    ("a,127.0.0.1:1,alice||bob\n", 1, "empty subject"),
    (",127.0.0.1:1\n", 1, "bad destination name"),
])
def test_server_map_errors_name_the_line(text, line, words):
    with pytest.raises(mapfile.MapError) as ei:
        mapfile.parse_server_map(text, "m.map")
    assert ei.value.lineno == line and words in str(ei.value)
    assert str(ei.value).startswith(f"m.map:{line}: ")


def test_client_map_rewrites_http_and_sets_origin():
    t = mapfile.parse_client_map("# local\n127.0.0.1:8306,https://gw.example.com/proxy/mysql\n"
                                 "[::1]:8080,http://h:8086/proxy/web\n127.0.0.1:9,ws://x/proxy/y\n")
    assert [(x.listen, x.url, x.origin) for x in t] == [
        ("127.0.0.1:8306", "wss://gw.example.com/proxy/mysql", "https://gw.example.com"),
        ("[::1]:8080", "ws://h:8086/proxy/web", "http://h:8086"),
        ("127.0.0.1:9", "ws://x/proxy/y", "ws://x"),
    ]
    for bad, word in [("127.0.0.1:1,ftp://x/\n", "bad URL"), ("\n", "blank"), ("127.0.0.1:1\n", "no comma"),
                      ("nohost,http://x/\n", "bad address"),
                      ("127.0.0.1:1,ws://a/\n127.0.0.1:1,ws://b/\n", "duplicate")]:
        with pytest.raises(mapfile.MapError, match=word):
            mapfile.parse_client_map(bad)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12).filter(
    lambda s: s not in (".", ".."))


@given(st.dictionaries(names, st.tuples(st.sampled_from(["127.0.0.1", "db", "[::1]"]), st.integers(1, 65535),
                                        st.none() | st.lists(names, min_size=1, max_size=3)), max_size=8),
       st.booleans())
def test_server_map_round_trip(entries, crlf):
    nl = "\r\n" if crlf else "\n"
    text = "# generated" + nl + "".join(
        f"{k},{h}:{p}" + (f",{'|'.join(s)}" if s else "") + nl for k, (h, p, s) in entries.items())
    m = mapfile.parse_server_map(text)
    assert set(m) == set(entries)
    for k, (h, p, s) in entries.items():
        assert (m[k].addr, m[k].allow) == (f"{h}:{p}", frozenset(s) if s else None)


# -- tokens ------------------------------------------------------------------------------------
def _keys(*pems):
    return [k for p in pems for k in tokens.load_public_keys(p, "test")]


@pytest.mark.parametrize("kind,alg", [("rsa", "RS256"), ("rsa", "RS384"), ("rsa", "RS512"),
                                      ("ec", "ES256"), ("ed", "EdDSA")])
def test_verify_algorithms(keys, kind, alg):
    k = keys[kind]
    claims = tokens.verify(make_token(k, alg, now=NOW), _keys(pem_public(k)), freshness=3600, now=NOW)
    assert claims["sub"] == "alice"


def test_rotation_several_keys_and_kid(keys):
    ks = _keys(pem_public(keys["rsa"]) + pem_public(keys["ec"]), pem_public(keys["rsa2"]))
    for k, alg in [(keys["rsa"], "RS256"), (keys["rsa2"], "RS256"), (keys["ec"], "ES256")]:
        assert tokens.verify(make_token(k, alg, now=NOW), ks, freshness=60, now=NOW)["sub"] == "alice"
    # a JWKS with kids: the kid selects the key, an unknown kid is refused
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["rsa"].public_key()))
    jwk.update(kid="k1", alg="RS256")
    jwks = _keys(json.dumps({"keys": [jwk]}).encode())
    tok = make_token(keys["rsa"], now=NOW, headers={"kid": "k1"})
    assert tokens.verify(tok, jwks, freshness=60, now=NOW)["sub"] == "alice"
    with pytest.raises(tokens.TokenError, match="unknown kid"):
        tokens.verify(make_token(keys["rsa"], now=NOW, headers={"kid": "k2"}), jwks, freshness=60, now=NOW)


def test_exp_iat_nbf_edges_with_an_injected_clock(keys):
    k, ks = keys["rsa"], _keys(pem_public(keys["rsa"]))
    tok = make_token(k, now=NOW, exp_in=10)
    assert tokens.verify(tok, ks, freshness=60, now=NOW + 9.9)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(tok, ks, freshness=60, now=NOW + 10)
    with pytest.raises(tokens.TokenError, match="no exp"):
        tokens.verify(make_token(k, now=NOW, exp=None), ks, freshness=60, now=NOW)
    with pytest.raises(tokens.TokenError, match="no iat"):
        tokens.verify(make_token(k, now=NOW, iat=None), ks, freshness=60, now=NOW)
    old = make_token(k, now=NOW, iat_ago=61, exp_in=3600)
    with pytest.raises(tokens.TokenError, match="iat too old"):
        tokens.verify(old, ks, freshness=60, now=NOW)
    assert tokens.verify(make_token(k, now=NOW, iat_ago=60), ks, freshness=60, now=NOW)
    assert tokens.verify(old, ks, freshness=None, now=NOW)      # iat not required
    with pytest.raises(tokens.TokenError, match="nbf"):
        tokens.verify(make_token(k, now=NOW, nbf=int(NOW) + 5), ks, freshness=60, now=NOW)
    with pytest.raises(tokens.TokenError, match="aud"):
        tokens.verify(make_token(k, now=NOW, aud="x"), ks, freshness=60, now=NOW, audience="y")


def _b64(d) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def test_attacks_are_refused(keys):
    pub = pem_public(keys["rsa"])
    ks = _keys(pub)
    body = {"sub": "mallory", "iat": int(NOW), "exp": int(NOW) + 60}
    none_tok = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(body)}."
    with pytest.raises(tokens.TokenError, match="not allowed"):
        tokens.verify(none_tok, ks, freshness=60, now=NOW)
    # HS256 with the PEM public key as the HMAC secret
    import hashlib
    import hmac
    head = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(body)}"
    sig = base64.urlsafe_b64encode(hmac.new(pub, head.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError, match="not allowed"):
        tokens.verify(f"{head}.{sig}", ks, freshness=60, now=NOW)
    # another key's signature, an ES token against an RSA-only key set, garbage, a huge token
    with pytest.raises(tokens.TokenError, match="bad signature"):
        tokens.verify(make_token(keys["rsa2"], now=NOW), ks, freshness=60, now=NOW)
    with pytest.raises(tokens.TokenError, match="no key for algorithm ES256"):
        tokens.verify(make_token(keys["ec"], "ES256", now=NOW), ks, freshness=60, now=NOW)
    for bad in ["", "abc", "a.b.c", "x" * 20000]:
        with pytest.raises(tokens.TokenError):
            tokens.verify(bad, ks, freshness=60, now=NOW)
    # a tampered payload with the original signature
    good = make_token(keys["rsa"], now=NOW)
    h, _, s = good.split(".")
    with pytest.raises(tokens.TokenError, match="bad signature"):
        tokens.verify(f"{h}.{_b64(body)}.{s}", ks, freshness=60, now=NOW)


def test_key_files(keys, tmp_path):
    assert len(tokens.load_public_keys(pem_private(keys["ec"]))) == 1      # a private key: its public half
    for bad in [b"", b"hello", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", b"{nope",
                b'{"keys":[{"kty":"oct","k":"AAAA"}]}']:
        with pytest.raises(tokens.KeyError_):
            tokens.load_public_keys(bad, "k.pem")
    with pytest.raises(tokens.KeyError_, match="missing.pem"):
        tokens.load_key_files([str(tmp_path / "missing.pem")])


def test_token_source_refreshes_before_expiry(keys):
    now = [NOW]
    key, alg = tokens.load_private_key(pem_private(keys["ec"]))
    assert alg == "ES256"
    ts = tokens.TokenSource(key, alg, "bob", issuer="wsgate-client", clock=lambda: now[0])
    t1 = ts.token()
    now[0] += 9
    assert ts.token() == t1
    now[0] += 1
    t2 = ts.token()
    assert t2 != t1
    c = tokens.verify(t2, _keys(pem_public(keys["ec"])), freshness=30, now=now[0])
    assert (c["sub"], c["iss"], c["exp"] - c["iat"]) == ("bob", "wsgate-client", 60)


def test_header_flag_parsing():
    assert parse_header("X-Team: dba") == ("X-Team", "dba")
    assert parse_header("Authorization:Bearer a:b") == ("Authorization", "Bearer a:b")
    for bad in ["novalue", ": x", "Bad Name: x", "X: a\r\nY: b"]:
        with pytest.raises(ValueError):
            parse_header(bad)


def test_iap_assertion_shape(keys):
    cred = {"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key": pem_private(keys["rsa"]).decode(), "private_key_id": "kid123",
            "token_uri": "https://oauth2.googleapis.com/token"}
    a = iap_assertion(cred, "123-abc.apps.googleusercontent.com", NOW)
    assert jwt.get_unverified_header(a)["kid"] == "kid123"
    c = jwt.decode(a, keys["rsa"].public_key(), algorithms=["RS256"], audience=cred["token_uri"],
                   options={"verify_exp": False, "verify_iat": False})
    assert c["target_audience"] == "123-abc.apps.googleusercontent.com"
    assert c["iss"] == c["sub"] == cred["client_email"] and c["exp"] - c["iat"] == 3600
