"""Fake AWS settings for the tests that run against moto's server (the `moto_server` and `aws_env`
fixtures are in tests/conftest.py): credentials that are not real, no config or credentials file, no
instance metadata, one attempt, so nothing can reach AWS."""
from __future__ import annotations

import os

DEFAULT_REGION = "us-east-1"


def fake_env(region: str = DEFAULT_REGION) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
    }


def use_fake_env(monkeypatch, env: dict[str, str], cleared=()) -> None:
    """Remove the caller's AWS_PROFILE / AWS_ENDPOINT_URL (and `cleared`), then set `env`."""
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", *cleared):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
