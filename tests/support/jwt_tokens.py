"""Keys and JWTs made at test time (the deteco and wsgate tests): PEM encodings and a signed token
with iat/exp around `now`. PyJWT and cryptography, which only those packages' envs install, are
imported inside the functions."""
from __future__ import annotations

import time


def pem_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_private(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_token(key, alg="RS256", sub="alice", now=None, exp_in=60, iat_ago=0, headers=None, **claims):
    """A JWT signed with key: sub, iat = now - iat_ago, exp = now + exp_in, then claims (a claim given
    as None is left out)."""
    import jwt

    now = time.time() if now is None else now
    body = {"sub": sub, "iat": int(now - iat_ago), "exp": int(now + exp_in)}
    body.update(claims)
    for k in [k for k, v in body.items() if v is None]:
        del body[k]
    return jwt.encode(body, key, algorithm=alg, headers=headers)
