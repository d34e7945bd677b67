# The suite's daemon template tokens.py: copied byte for byte from scripts/templates/daemon/tokens.py
# into each server package that lists "daemon/tokens" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""JSON Web Tokens: loading public keys (PEM blocks or a JWKS document, several per file, for
rotation), verifying a token against them with an explicit clock, and signing tokens (a client's
bearer tokens, an operator's test tokens).
Pure functions over bytes and values; PyJWT and cryptography do the cryptography.

Accepted algorithms are the asymmetric ones of the key that verifies: RS256/384/512 (RSA),
ES256/384/512 (EC P-256/384/521), EdDSA (Ed25519, Ed448). `none` and HS* are refused before any
key is tried (an HS256 token "signed" with the public key as the secret is the classic attack)."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

MAX_TOKEN = 16 * 1024
RSA_ALGS = ("RS256", "RS384", "RS512")
EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\r?\n.+?-----END \1-----", re.S)


class KeyError_(ValueError):
    """A key file that cannot be used (the message names the file)."""


class TokenError(ValueError):
    """A token that is not accepted; str() is a short reason safe to log (never the token)."""


@dataclass(frozen=True)
class Key:
    key: object                 # a cryptography public key
    algs: tuple                 # algorithms this key verifies
    kid: str | None = None
    source: str = ""


def _algs_for(pub) -> tuple:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    if isinstance(pub, rsa.RSAPublicKey):
        return RSA_ALGS
    if isinstance(pub, ec.EllipticCurvePublicKey):
        alg = EC_ALGS.get(pub.curve.name)
        if alg is None:
            raise ValueError(f"unsupported curve {pub.curve.name}")
        return (alg,)
    if isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return ("EdDSA",)
    raise ValueError(f"unsupported key type {type(pub).__name__}")


def load_public_keys(data: bytes, source: str = "") -> list[Key]:
    """Every public key in a file: PEM blocks (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE; a private
    key gives its public half) or a JWKS document ({"keys": [...]}, kid kept)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    out: list[Key] = []
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        try:
            doc = json.loads(data)
            items = doc["keys"] if isinstance(doc, dict) and "keys" in doc else [doc]
        except (ValueError, KeyError, TypeError) as e:
            raise KeyError_(f"{source}: not a JWKS document: {e}") from None
        from jwt.algorithms import get_default_algorithms
        algos = get_default_algorithms()
        for i, jwk in enumerate(items):
            try:
                kty = jwk.get("kty")
                impl = {"RSA": algos["RS256"], "EC": algos["ES256"], "OKP": algos["EdDSA"]}[kty]
                pub = impl.from_jwk(json.dumps(jwk))
                if hasattr(pub, "public_key") and not hasattr(pub, "verify"):
                    pub = pub.public_key()
                algs = _algs_for(pub)
                if jwk.get("alg"):
                    if jwk["alg"] not in algs:
                        raise ValueError(f"alg {jwk['alg']} does not fit the key")
                    algs = (jwk["alg"],)
            except Exception as e:          # noqa: BLE001 - any malformed member
                raise KeyError_(f"{source}: key #{i + 1}: {e or type(e).__name__}") from None
            out.append(Key(pub, algs, jwk.get("kid"), source))
    else:
        for m in _PEM.finditer(data):
            kind = m.group(1).decode()
            block = m.group(0)
            try:
                if kind == "CERTIFICATE":
                    pub = x509.load_pem_x509_certificate(block).public_key()
                elif "PRIVATE" in kind:
                    pub = serialization.load_pem_private_key(block, None).public_key()
                else:
                    pub = serialization.load_pem_public_key(block)
                algs = _algs_for(pub)
            except Exception as e:          # noqa: BLE001
                raise KeyError_(f"{source}: {kind}: {e or type(e).__name__}") from None
            out.append(Key(pub, algs, None, source))
    if not out:
        raise KeyError_(f"{source}: no public key (want PEM blocks or a JWKS document)")
    return out


def load_key_files(paths: list[str]) -> list[Key]:
    keys: list[Key] = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            raise KeyError_(f"{p}: {e.strerror or e}") from None
        keys.extend(load_public_keys(data, p))
    return keys


def verify(token: str, keys: list[Key], *, freshness: float | None, now: float | None = None,
           audience: str | None = None, issuer: str | None = None, leeway: float = 0.0) -> dict:
    """The claims of a token signed by one of the keys, with `exp` required and in the future,
    `iat` required and no older than `freshness` seconds (None: iat not required), `nbf` honoured,
    and aud/iss when given. TokenError otherwise."""
    import jwt
    now = time.time() if now is None else now
    if not token:
        raise TokenError("no token")
    if len(token) > MAX_TOKEN:
        raise TokenError("token too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("malformed token") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg.startswith("HS"):
        raise TokenError(f"algorithm {alg!r} not allowed")
    kid = header.get("kid")
    cands = [k for k in keys if alg in k.algs]
    if kid is not None and any(k.kid is not None for k in cands):
        cands = [k for k in cands if k.kid == kid]
        if not cands:
            raise TokenError("unknown kid")
    if not cands:
        raise TokenError(f"no key for algorithm {alg}")
    claims = None
    for k in cands:
        try:
            claims = jwt.decode(token, k.key, algorithms=[alg],
                                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                         "verify_aud": False, "verify_iss": False})
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as e:
            raise TokenError(f"invalid token: {type(e).__name__}") from None
    if claims is None:
        raise TokenError("bad signature")
    if not isinstance(claims, dict):
        raise TokenError("claims are not an object")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise TokenError("no exp")
    if now >= exp + leeway:
        raise TokenError("expired")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not isinstance(nbf, (int, float)) or isinstance(nbf, bool):
            raise TokenError("bad nbf")
        if now + leeway < nbf:
            raise TokenError("not yet valid (nbf)")
    if freshness is not None:
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or isinstance(iat, bool):
            raise TokenError("no iat")
        if iat > now + leeway + 60:
            raise TokenError("iat in the future")
        if now - iat > freshness:
            raise TokenError("iat too old")
    if audience is not None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience not in auds:
            raise TokenError("wrong aud")
    if issuer is not None and claims.get("iss") != issuer:
        raise TokenError("wrong iss")
    return claims


def load_private_key(data: bytes, source: str = ""):
    from cryptography.hazmat.primitives import serialization
    try:
        key = serialization.load_pem_private_key(data, None)
        alg = _algs_for(key.public_key())[0]
    except Exception as e:      # noqa: BLE001
        raise KeyError_(f"{source}: not a usable private key: {e or type(e).__name__}") from None
    return key, alg


def sign(key, alg: str, claims: dict, kid: str | None = None) -> str:
    import jwt
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


class TokenSource:
    """The client's bearer tokens from a private key: {sub, iss, iat, exp=iat+lifetime}, signed
    again when `refresh` seconds have passed (well before exp)."""

    def __init__(self, key, alg: str, sub: str, *, issuer: str, lifetime: float = 60.0,
                 refresh: float = 10.0, clock=time.time):
        self.key, self.alg, self.sub = key, alg, sub
        self.lifetime, self.refresh, self.clock, self.issuer = lifetime, refresh, clock, issuer
        self._token, self._at = None, None

    def token(self) -> str:
        now = self.clock()
        if self._token is None or now - self._at >= self.refresh:
            iat = int(now)
            self._token = sign(self.key, self.alg, {"sub": self.sub, "iss": self.issuer, "iat": iat,
                                                    "exp": iat + int(self.lifetime)})
            self._at = now
        return self._token
