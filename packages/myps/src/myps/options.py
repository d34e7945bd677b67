"""MySQL option files and the resolution of connection parameters (no network here).

Layers, later wins: the usual option files (or --defaults-file), --defaults-extra-file, the
command line. A host given in a later layer than a socket cancels that socket, so
`--mysql-host db2` really goes to db2 even when my.cnf names a local socket.
"""
from __future__ import annotations

import getpass
import os
import re

GROUPS = ("client", "client-server", "client-mariadb", "myps")
KEYS = ("user", "password", "socket", "host", "port")
DEFAULT_FILES = ("/etc/my.cnf", "/etc/mysql/my.cnf", "~/.my.cnf")


class OptionFileError(Exception):
    pass


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        inner = v[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "\\": "\\", "s": " "}.get(m.group(1), m.group(1)),
                      inner)
    # an unquoted value ends at a comment
    m = re.search(r"\s#", v)
    if m:
        v = v[:m.start()].rstrip()
    return v


def read_option_file(path: str, groups=GROUPS, _depth: int = 0, must_exist: bool = True) -> dict:
    """Keys of `groups` in one option file, with !include and !includedir followed."""
    out: dict = {}
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        if must_exist:
            raise OptionFileError(f"{path}: {e.strerror}") from None
        return out
    if _depth > 10:
        return out
    section = None
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("!include "):
            out.update(read_option_file(line[9:].strip(), groups, _depth + 1, must_exist=False))
            continue
        if line.startswith("!includedir "):
            d = line[12:].strip()
            try:
                names = sorted(os.listdir(d))
            except OSError:
                names = []
            for n in names:
                if n.endswith(".cnf"):
                    out.update(read_option_file(os.path.join(d, n), groups, _depth + 1, must_exist=False))
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        if section not in groups:
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower().replace("_", "-")
        if key.startswith("loose-"):
            key = key[6:]
        if key in KEYS:
            out[key] = _unquote(value) if sep else ""
    return out


def _overlay(base: dict, layer: dict) -> dict:
    res = dict(base)
    if ("host" in layer or "port" in layer) and "socket" not in layer:
        res.pop("socket", None)
    if "socket" in layer and "host" not in layer:
        res.pop("host", None)
        res.pop("port", None)
    res.update({k: v for k, v in layer.items() if v is not None})
    return res


def resolve(cli: dict, defaults_file: str | None = None, extra_file: str | None = None,
            no_defaults: bool = False, env=os.environ) -> dict:
    """Connection parameters: host, port, user, password, socket (missing keys absent)."""
    params: dict = {}
    if defaults_file:
        params = _overlay(params, read_option_file(defaults_file))
    elif not no_defaults:
        for p in DEFAULT_FILES:
            params = _overlay(params, read_option_file(p, must_exist=False))
    if "password" not in params and env.get("MYSQL_PWD") is not None:
        params["password"] = env["MYSQL_PWD"]
    if extra_file:
        params = _overlay(params, read_option_file(extra_file))
    params = _overlay(params, {k: v for k, v in cli.items() if v is not None})
    if not params.get("user"):
        params["user"] = env.get("USER") or _login_name()
    return params


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def connect_kwargs(params: dict, timeout: float) -> dict:
    """PyMySQL keyword arguments: the socket when one is known, else TCP (localhost:3306)."""
    t = max(timeout, 0.001)
    # PyMySQL's connect_timeout covers only the TCP connect: the read and write timeouts bound the
    # handshake and every statement too, so a server that accepts and never answers fails after it
    kw = {"user": params.get("user", ""), "password": params.get("password", "") or "",
          "connect_timeout": t, "read_timeout": t, "write_timeout": t}
    if params.get("socket"):
        kw["unix_socket"] = params["socket"]
    else:
        kw["host"] = params.get("host") or "localhost"
        try:
            kw["port"] = int(params.get("port") or 3306)
        except ValueError:
            raise OptionFileError(f"invalid port: {params.get('port')!r}") from None
    return kw


LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def tls_kwargs(kw: dict) -> dict:
    """No TLS over a unix socket or to loopback (nobody to listen in, and building an SSL context
    costs ~0.2 s); elsewhere PyMySQL's default: TLS when the server offers it."""
    if kw.get("unix_socket") or kw.get("host") in LOOPBACK:
        return {"ssl_disabled": True}
    return {}


def describe(params: dict) -> str:
    """A DSN-like description with the password masked, for --debug and messages."""
    user = params.get("user", "")
    pw = ":xxxx" if params.get("password") else ""
    if params.get("socket"):
        where = f"unix({params['socket']})"
    else:
        where = f"tcp({params.get('host') or 'localhost'}:{params.get('port') or 3306})"
    return f"{user}{pw}@{where}/"
