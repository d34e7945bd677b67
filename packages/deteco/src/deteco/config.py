"""deteco's TOML configuration: repeated [[services]] with id (the JWT sub), paths (prefixes) and
public_keys (PEM strings), plus optional jwks_files (JWKS or PEM files, relative to the
configuration file), audience, issuer. load() raises ConfigError with upstream's load errors (no
services, empty id, no paths, no keys, duplicate id, unparseable key) and a path that can never
match a normalised URI."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

from deteco import tokens
from deteco.uri import lint_rule, normalise_rule


class ConfigError(ValueError):
    pass


@dataclass
class Service:
    id: str
    paths: list
    keys: list
    audience: str | None = None
    issuer: str | None = None
    warnings: list = field(default_factory=list)


def parse(text: str, source: str = "", base_dir: str = ".") -> dict[str, Service]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: {e}") from None
    items = doc.get("services")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: no services ([[services]] with id, paths, public_keys)")
    out: dict[str, Service] = {}
    for n, s in enumerate(items, 1):
        where = f"{source}: services #{n}"
        if not isinstance(s, dict):
            raise ConfigError(f"{where}: not a table")
        sid = s.get("id")
        if not isinstance(sid, str) or not sid:
            raise ConfigError(f"{where}: empty id")
        where = f"{source}: service {sid!r}"
        if sid in out:
            raise ConfigError(f"{where}: duplicate id")
        paths = s.get("paths")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise ConfigError(f"{where}: no paths")
        rules = []
        for p in paths:
            why = lint_rule(p)
            if why:
                raise ConfigError(f"{where}: path {p!r}: {why}")
            rules.append(normalise_rule(p))
        keys = []
        pems = s.get("public_keys", [])
        if not isinstance(pems, list) or not all(isinstance(p, str) for p in pems):
            raise ConfigError(f"{where}: public_keys is a list of PEM strings")
        for i, pem in enumerate(pems, 1):
            try:
                keys.extend(tokens.load_public_keys(pem.encode(), f"public_keys #{i}"))
            except tokens.KeyError_ as e:
                raise ConfigError(f"{where}: unparseable key: {e}") from None
        files = s.get("jwks_files", [])
        if not isinstance(files, list) or not all(isinstance(p, str) for p in files):
            raise ConfigError(f"{where}: jwks_files is a list of file names")
        try:
            keys.extend(tokens.load_key_files([os.path.join(base_dir, f) for f in files]))
        except tokens.KeyError_ as e:
            raise ConfigError(f"{where}: unparseable key: {e}") from None
        if not keys:
            raise ConfigError(f"{where}: no keys (public_keys or jwks_files)")
        for k in ("audience", "issuer"):
            if k in s and not isinstance(s[k], str):
                raise ConfigError(f"{where}: {k} is a string")
        svc = Service(sid, rules, keys, s.get("audience"), s.get("issuer"))
        for a in rules:
            for b in rules:
                if a != b and b.startswith(a):
                    svc.warnings.append(f"path {b!r} is inside {a!r} (redundant)")
        if "/" in rules:
            svc.warnings.append("path '/' allows every URI")
        out[sid] = svc
    return out


def load(path: str) -> dict[str, Service]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8") from None
    return parse(text, path, os.path.dirname(os.path.abspath(path)))
