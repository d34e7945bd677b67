"""go-sql-driver/mysql DSNs: `[user[:password]@][net[(addr)]]/dbname[?param=value&...]`."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field


class DSNError(ValueError):
    pass


@dataclass
class DSN:
    user: str = ""
    password: str | None = None
    net: str = "tcp"
    addr: str = "127.0.0.1:3306"
    dbname: str = ""
    params: dict = field(default_factory=dict)
    raw: str = ""

    def connect_kwargs(self, environ=None, options: dict | None = None) -> dict:
        """PyMySQL's connect() arguments; without a password in the DSN, the `password` of
        `options` (an option file's [client] section, see client_options) supplies it, else
        MYSQL_PWD of `environ` (when one is given): the mysql client's order. The option file's
        `user` is used when the DSN has none."""
        options = options or {}
        pw = self.password
        if pw is None:
            pw = options.get("password")
        if pw is None and environ is not None:
            pw = environ.get("MYSQL_PWD")
        kw: dict = {"user": self.user or options.get("user", ""), "password": pw or ""}
        if self.net == "unix":
            kw["unix_socket"] = self.addr
        else:
            host, port = split_host_port(self.addr)
            kw["host"], kw["port"] = host, port
        t = self.params.get("timeout")
        if t:
            from .gofmt import parse_duration
            try:
                kw["connect_timeout"] = max(parse_duration(t) / 1e9, 0.001)
            except ValueError:
                raise DSNError(f"invalid DSN: bad timeout {t!r}") from None
        else:
            kw["connect_timeout"] = 30
        tls = (self.params.get("tls") or "").lower()
        if tls in ("false", "0", "off", "disabled"):
            kw["ssl_disabled"] = True
        elif tls in ("true", "1", "on", "required"):
            kw["ssl_verify_cert"] = True
            kw["ssl_verify_identity"] = True
        elif tls == "skip-verify":
            kw["ssl"] = {"verify_mode": False, "check_hostname": False}
        elif tls in ("", "preferred"):
            # TLS when the server offers it, except over a unix socket or to loopback (nobody to
            # listen in, and an SSL context costs ~0.2 s per connection)
            if self.net == "unix" or kw.get("host") in ("localhost", "127.0.0.1", "::1"):
                kw["ssl_disabled"] = True
        else:
            raise DSNError(f"invalid DSN: unknown tls value {tls!r}")
        for p in ("readTimeout", "writeTimeout"):
            if self.params.get(p):
                from .gofmt import parse_duration
                try:
                    v = parse_duration(self.params[p]) / 1e9
                except ValueError:
                    raise DSNError(f"invalid DSN: bad {p} {self.params[p]!r}") from None
                if v > 0:
                    kw["read_timeout" if p == "readTimeout" else "write_timeout"] = v
        return kw

    def masked_with_db(self, dbname: str) -> str:
        """The masked DSN with another database name (parameters kept)."""
        m = self.masked()
        i = m.rfind("/")
        rest = m[i + 1:]
        q = rest.find("?")
        return m[:i + 1] + dbname + (rest[q:] if q >= 0 else "")

    def masked(self) -> str:
        """The DSN as given, with the password replaced by ****."""
        if self.password is None:
            return self.raw
        at = self.raw.rfind("@", 0, self.raw.rfind("/") if "/" in self.raw else len(self.raw))
        userinfo = self.raw[:at]
        user = userinfo.split(":", 1)[0]
        return f"{user}:****{self.raw[at:]}"


def client_options(path: str) -> dict:
    """The [client] section of a MySQL option file (`--defaults-file` / `--defaults-extra-file`):
    keys with `-` or `_` alike, values unquoted. OSError if unreadable; DSNError if malformed."""
    import configparser
    cp = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None,
                                   comment_prefixes=("#", ";"), inline_comment_prefixes=None)
    with open(path, encoding="utf-8") as f:
        try:
            cp.read_file(f)
        except configparser.Error as e:
            raise DSNError(f"{path}: {e.message.splitlines()[0]}") from None
    out = {}
    if cp.has_section("client"):
        for k, v in cp.items("client"):
            if v is not None and len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            out[k.replace("-", "_")] = v
    return out


def split_host_port(addr: str) -> tuple[str, int]:
    if addr.startswith("["):
        end = addr.find("]")
        host = addr[1:end]
        rest = addr[end + 1:]
        port = rest[1:] if rest.startswith(":") else "3306"
    elif addr.count(":") == 1:
        host, port = addr.split(":")
    else:
        host, port = addr, "3306"
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise DSNError(f"invalid DSN: bad port in {addr!r}") from None


def parse(dsn: str) -> DSN:
    d = DSN(raw=dsn)
    slash = dsn.rfind("/")
    if slash < 0:
        raise DSNError("invalid DSN: missing the slash separating the database name")
    left, right = dsn[:slash], dsn[slash + 1:]
    # the database name may not contain '/', but the address (a socket path) may
    if "(" in left and ")" not in left[left.rfind("("):]:
        raise DSNError("invalid DSN: network address not terminated (missing closing brace)")
    at = left.rfind("@")
    if at >= 0:
        userinfo, netaddr = left[:at], left[at + 1:]
        user, sep, pw = userinfo.partition(":")
        d.user = user
        d.password = pw if sep else None
    else:
        netaddr = left
    if netaddr:
        if "(" in netaddr:
            if not netaddr.endswith(")"):
                raise DSNError("invalid DSN: did you forget to escape a param value?")
            d.net = netaddr[:netaddr.index("(")] or "tcp"
            d.addr = netaddr[netaddr.index("(") + 1:-1]
        else:
            d.net = netaddr
            d.addr = ""
    if d.net not in ("tcp", "tcp4", "tcp6", "unix"):
        raise DSNError(f"invalid DSN: unknown network {d.net!r}")
    if not d.addr:
        d.addr = "/tmp/mysql.sock" if d.net == "unix" else "127.0.0.1:3306"
    elif d.net != "unix" and ":" not in d.addr.strip("[]"):
        d.addr += ":3306"
    db, _, query = right.partition("?")
    d.dbname = urllib.parse.unquote(db)
    if query:
        for part in query.split("&"):
            k, _, v = part.partition("=")
            d.params[k] = urllib.parse.unquote(v)
    return d
