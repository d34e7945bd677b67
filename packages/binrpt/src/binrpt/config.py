"""The TOML configuration: upstream binrpt's keys, plus ours. Validated into plain dataclasses."""
from __future__ import annotations

import configparser
import os
import tomllib
from dataclasses import dataclass, field

from . import gtid
from .filters import Filter
from .values import MASKS

POLICIES = ("stop", "skip", "dead_letter")
ERROR_CLASSES = {
    "duplicate_key": POLICIES,
    "row_not_found": POLICIES,
    "missing_table": POLICIES,
    "missing_column": POLICIES + ("ignore",),
    "ddl": POLICIES,
    "other": POLICIES,
}


class ConfigError(Exception):
    pass


_ENDPOINT_KEYS = ("host", "port", "username", "password", "charset", "socket", "defaults_file", "connect_timeout")
# every key binrpt reads, per table: anything else is a mistake (a my.cnf spelling such as
# replicate-do-db, a typo) that would otherwise be ignored silently
KNOWN_KEYS = {
    None: ("source", "replica", "errors", "log", "mask"),
    "source": _ENDPOINT_KEYS + ("replicate_server_id", "binlog_buffer_num", "start_position", "heartbeat",
                                "read_timeout"),
    "replica": _ENDPOINT_KEYS + (
        "replicate_do_db", "replicate_ignore_db", "replicate_do_table", "replicate_ignore_table",
        "replicate_wild_do_table", "replicate_wild_ignore_table", "replicate_ignore_tables", "rewrite_db", "mask",
        "channel", "checkpoint_schema", "group_max_txns", "group_max_rows", "group_max_seconds", "gtid_skip",
        "reconnect_max_attempts", "reconnect_backoff_max", "start_position", "save_status", "table_info_from_src"),
    "errors": tuple(ERROR_CLASSES),
    "log": ("format", "summary_interval"),
}


def _nearest(key: str, valid) -> str:
    import difflib
    norm = key.lower().replace("-", "_").replace(".", "_")
    if norm in valid:
        return norm
    m = difflib.get_close_matches(norm, valid, n=1, cutoff=0.6)
    return m[0] if m else ""


def check_keys(raw: dict) -> None:
    """ConfigError for the first key binrpt does not know, with the nearest valid name."""
    for sec, valid in KNOWN_KEYS.items():
        table = raw if sec is None else raw.get(sec)
        if not isinstance(table, dict):
            continue
        for k in table:
            if k in valid:
                continue
            where = f"{sec}.{k}" if sec else f"[{k}]"
            near = _nearest(str(k), valid)
            hint = f"; did you mean {near}?" if near else f" (valid: {', '.join(valid)})"
            if sec == "errors":
                raise ConfigError(f"unknown key {where}: unknown error class{hint}")
            raise ConfigError(f"unknown key {where}{hint}")


def _port(value, name: str) -> int:
    """An integer port: a float (3306.9) or a boolean is refused instead of cut."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{name}.port: want an integer, not {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}.port: not a number: {value!r}") from None


@dataclass
class Endpoint:
    host: str | None
    port: int
    user: str
    password: str | None
    charset: str
    socket: str | None = None
    connect_timeout: float = 10.0

    def pymysql_kwargs(self) -> dict:
        kw = {"user": self.user, "charset": self.charset, "connect_timeout": self.connect_timeout}
        if self.password is not None:
            kw["password"] = self.password
        if self.socket:
            kw["unix_socket"] = self.socket
        else:
            kw["host"] = self.host or "127.0.0.1"
            kw["port"] = self.port
        return kw

    def dsn(self) -> str:
        """Printable, password masked."""
        where = f"unix({self.socket})" if self.socket else f"tcp({self.host}:{self.port})"
        pw = ":***" if self.password else ""
        return f"{self.user}{pw}@{where}/?charset={self.charset}"


@dataclass
class Config:
    source: Endpoint
    replica: Endpoint
    server_id: int
    filter: Filter
    binlog_buffer_num: int = 0
    start_position: str = "now"
    heartbeat: float = 1.0
    read_timeout: float = 30.0
    rewrite_db: dict = field(default_factory=dict)
    mask: dict = field(default_factory=dict)         # {(db, table, column): kind}
    channel: str = "default"
    checkpoint_schema: str = "binrpt"
    group_max_txns: int = 1000
    group_max_rows: int = 20000
    group_max_seconds: float = 0.5
    gtid_skip: bool = True
    errors: dict = field(default_factory=lambda: {k: "stop" for k in ERROR_CLASSES})
    log_format: str = "ltsv"
    summary_interval: float = 10.0
    reconnect_max_attempts: int = 0   # 0 = unlimited
    reconnect_backoff_max: float = 30.0
    save_status: bool = False          # accepted for compatibility; we always checkpoint


def check_start_position(text: str) -> str:
    """now | beginning | a GTID position (MariaDB) or set (MySQL) | FILE:POS (POS a number >= 4);
    ValueError otherwise."""
    if text in ("now", "beginning"):
        return text
    if ":" in text and gtid.looks_like_uuid(text.split(":", 1)[0]):
        try:
            gtid.parse_mysql(text)
        except gtid.GtidError as e:
            raise ValueError(str(e)) from None
        return text
    if ":" in text:
        f, _, pos = text.rpartition(":")
        if f and pos.isdigit() and int(pos) >= 4:
            return text
        raise ValueError(f"{text!r}: want FILE:POS with POS a number >= 4")
    try:
        gtid.parse(text)
    except gtid.GtidError as e:
        raise ValueError(f'{e} (or "now", "beginning", "FILE:POS")') from None
    return text


def _defaults_file(path: str) -> dict:
    cp = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None)
    try:
        with open(path) as f:
            cp.read_file(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except configparser.Error as e:
        raise ConfigError(f"{path}: {e}") from None
    out = {}
    for sec in ("client", "mysql", "binrpt"):
        if cp.has_section(sec):
            out.update({k.replace("-", "_"): (v.strip().strip("'\"") if v else v) for k, v in cp.items(sec)})
    return out


def _endpoint(sec: dict, name: str, required: tuple[str, ...]) -> Endpoint:
    d = dict(sec)
    if "defaults_file" in d:
        df = _defaults_file(str(d["defaults_file"]))
        for src, dst in (("host", "host"), ("port", "port"), ("user", "username"), ("password", "password"),
                         ("socket", "socket"), ("default_character_set", "charset")):
            if src in df and dst not in d:
                d[dst] = df[src]
    env_pw = os.environ.get(f"BINRPT_{name.upper()}_PASSWORD")
    if "password" not in d and env_pw is not None:
        d["password"] = env_pw
    if d.get("socket"):
        required = tuple(k for k in required if k != "host")
    for k in required:
        if d.get(k) in (None, ""):
            raise ConfigError(f"{name}.{k} is required")
    port = _port(d.get("port", 3306), name)
    return Endpoint(host=d.get("host"), port=port, user=str(d.get("username", "")),
                    password=None if d.get("password") is None else str(d.get("password")),
                    charset=str(d.get("charset") or "utf8mb4"), socket=d.get("socket") or None,
                    connect_timeout=float(d.get("connect_timeout", 10)))


def load(path: str) -> Config:
    """The configuration in the TOML file `path`; ConfigError (without the path) when it is unusable."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ConfigError(e.strerror or str(e)) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(e)) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text: {e}") from None
    return from_dict(raw)


def from_dict(raw: dict) -> Config:
    """Validate a parsed configuration. A wrong type anywhere is a ConfigError, never a traceback."""
    for sec in ("errors", "log", "mask"):
        if raw.get(sec) is not None and not isinstance(raw.get(sec), dict):
            raise ConfigError(f"[{sec}] must be a table")
    check_keys(raw)
    try:
        cfg = _from_dict(raw)
    except (TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"bad value: {e}") from None
    for name, ep in (("source", cfg.source), ("replica", cfg.replica)):
        if not 0 < ep.port < 65536:
            raise ConfigError(f"{name}.port: out of range: {ep.port}")
        if not ep.connect_timeout > 0:
            raise ConfigError(f"{name}.connect_timeout: must be > 0")
    if not cfg.read_timeout > 0:
        raise ConfigError("source.read_timeout: must be > 0 (seconds)")
    if not cfg.heartbeat >= 0:
        raise ConfigError("source.heartbeat: must be >= 0 (seconds; 0 = off)")
    if not cfg.group_max_seconds >= 0:
        raise ConfigError("replica.group_max_seconds: must be >= 0")
    if not cfg.reconnect_backoff_max >= 0:
        raise ConfigError("replica.reconnect_backoff_max: must be >= 0")
    if not cfg.summary_interval >= 0:
        raise ConfigError("log.summary_interval: must be >= 0")
    if cfg.binlog_buffer_num < 0:
        raise ConfigError("source.binlog_buffer_num: must be >= 0")
    if not cfg.channel or len(cfg.channel) > 64 or cfg.channel != cfg.channel.strip():
        # the checkpoint key is VARCHAR(64): a longer name would be cut, and two channels sharing a prefix
        # would share one checkpoint row; the comparison also ignores trailing spaces
        raise ConfigError(f"replica.channel: 1 to 64 characters, no leading or trailing space: {cfg.channel!r}")
    return cfg


def _from_dict(raw: dict) -> Config:
    src = raw.get("source")
    rep = raw.get("replica")
    if not isinstance(src, dict):
        raise ConfigError("[source] is required")
    if not isinstance(rep, dict):
        raise ConfigError("[replica] is required")
    source = _endpoint(src, "source", ("host", "username"))
    replica = _endpoint(rep, "replica", ("host", "username"))
    try:
        server_id = int(src.get("replicate_server_id", 0))
    except (TypeError, ValueError):
        raise ConfigError("source.replicate_server_id: not a number") from None
    if not 1 <= server_id <= 0xFFFFFFFF:
        raise ConfigError("source.replicate_server_id is required (1..4294967295, unique among the "
                          "source's replicas)")
    checkpoint_schema = str(rep.get("checkpoint_schema", "binrpt"))
    try:
        flt = Filter.from_config(rep, internal_schema=checkpoint_schema)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    rewrite = rep.get("rewrite_db", {})
    if not isinstance(rewrite, dict) or not all(isinstance(v, str) for v in rewrite.values()):
        raise ConfigError('replica.rewrite_db must be a table of "source_db" = "target_db"')
    mask = {}
    masks = rep.get("mask") or raw.get("mask") or {}
    if not isinstance(masks, dict):
        raise ConfigError("replica.mask must be a table of \"db.table.column\" = kind")
    for k, v in masks.items():
        parts = k.split(".")
        if len(parts) != 3 or v not in MASKS:
            raise ConfigError(f'mask: "{k}" = "{v}": want "db.table.column" = one of {", ".join(MASKS)}')
        mask[tuple(parts)] = v
    errors = {k: "stop" for k in ERROR_CLASSES}
    for k, v in (raw.get("errors") or {}).items():
        if k not in ERROR_CLASSES:
            raise ConfigError(f"errors.{k}: unknown error class (one of {', '.join(ERROR_CLASSES)})")
        if v not in ERROR_CLASSES[k]:
            raise ConfigError(f"errors.{k}: unknown policy {v!r} (one of {', '.join(ERROR_CLASSES[k])})")
        errors[k] = v
    start = str(src.get("start_position", rep.get("start_position", "now")))
    try:
        check_start_position(start)
    except ValueError as e:
        raise ConfigError(f"source.start_position: {e}") from None
    log = raw.get("log") or {}
    fmt = str(log.get("format", "ltsv"))
    if fmt not in ("ltsv", "json"):
        raise ConfigError("log.format: ltsv or json")
    env = os.environ.get("REPLICATE_MAX_RECONNECT_ATTEMPTS", "")
    try:
        attempts = int(env) if env.strip() else int(rep.get("reconnect_max_attempts", 0))
    except ValueError:
        raise ConfigError(f"REPLICATE_MAX_RECONNECT_ATTEMPTS: not a number: {env!r}") from None
    try:
        return Config(
            source=source, replica=replica, server_id=server_id, filter=flt,
            binlog_buffer_num=int(src.get("binlog_buffer_num", 0)),
            start_position=start,
            heartbeat=float(src.get("heartbeat", 1.0)),
            read_timeout=float(src.get("read_timeout", 30.0)),
            rewrite_db=dict(rewrite), mask=mask,
            channel=str(rep.get("channel", "default")),
            checkpoint_schema=checkpoint_schema,
            group_max_txns=max(1, int(rep.get("group_max_txns", 1000))),
            group_max_rows=max(1, int(rep.get("group_max_rows", 20000))),
            group_max_seconds=float(rep.get("group_max_seconds", 0.5)),
            gtid_skip=bool(rep.get("gtid_skip", True)),
            errors=errors, log_format=fmt,
            summary_interval=float(log.get("summary_interval", 10.0)),
            reconnect_max_attempts=max(0, attempts),
            reconnect_backoff_max=float(rep.get("reconnect_backoff_max", 30.0)),
            save_status=bool(rep.get("save_status", False)),
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad value: {e}") from None
