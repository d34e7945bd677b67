"""The GitHub token, the Slack webhook URL and the webhook secret: from the environment, a file,
or a base64 KMS ciphertext file decrypted with boto3 (imported here only, only on that path).
Never from argv, never printed."""
from __future__ import annotations

import base64
import binascii
import os


class CredentialError(Exception):
    pass


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CredentialError(f"{what}: {path}: {e.strerror or e}") from None


def kms_decrypt(path: str, what: str) -> str:
    """The file holds base64 KMS ciphertext (`aws kms encrypt ... --query CiphertextBlob --output
    text`); region, credentials and endpoint come the way the AWS CLI finds them."""
    try:
        blob = base64.b64decode(b"".join(_read(path, what).split()), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(f"{what}: {path}: not base64 KMS ciphertext") from None
    import boto3  # heavy: only on this path
    import botocore.exceptions

    try:
        plain = boto3.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        err = (getattr(e, "response", None) or {}).get("Error") or {}
        reason = f"{err.get('Code')}: {err.get('Message', '')}" if err.get("Code") else str(e)
        raise CredentialError(f"{what}: KMS decrypt of {path} failed: {reason}") from None
    return plain.decode("utf-8").strip()


def get(what: str, *, file: str | None = None, kms_file: str | None = None, env: str | None = None,
        required: bool = True) -> str | None:
    if kms_file:
        return kms_decrypt(kms_file, what)
    if file:
        value = _read(file, what).decode("utf-8", "replace").strip()
        if not value:
            raise CredentialError(f"{what}: {file} is empty")
        return value
    if env and os.environ.get(env, "").strip():
        return os.environ[env].strip()
    if required:
        raise CredentialError(f"no {what}: set {env} or give a file option (see --help)")
    return None
