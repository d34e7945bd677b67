"""mha-consul-failover: MHA's master_ip_failover_script and master_ip_online_change_script that
move the master's service instance in Consul's catalog.

The command line only: MHA's argument names, our Consul settings (flags, a TOML file, the
consul CLI's environment), wiring to failover.Runner. Every step is one JSON line on stdout."""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys

from mha_consul_failover import __version__, _entry

PROG = "mha-consul-failover"
POLICY = _entry.SUITE

DESCRIPTION = """\
For MHA's master_ip_failover_script and master_ip_online_change_script: `stop`/`stopssh`
deregister the original master's instance of the service from Consul's catalog (or the local
agent with --use-agent), `start` registers the new master and reads it back before exiting 0,
`status` checks Consul and the current registration. Clients find the master through Consul
(DNS `SERVICE.service.consul`). Exit 0 on success; anything else makes MHA stop the failover."""

EPILOG = """\
MHA configuration (the extra flags come before the ones MHA appends):
  master_ip_failover_script=/usr/local/bin/mha-consul-failover --config=/etc/mha/consul.toml
  master_ip_online_change_script=/usr/local/bin/mha-consul-failover --config=/etc/mha/consul.toml
the ACL token: CONSUL_HTTP_TOKEN, --token-file (or token_file in the TOML), CONSUL_HTTP_TOKEN_FILE;
never on the command line.
exit status: 0 success (also: already registered / already gone), 1 a step failed, 2 usage error."""

# what MHA passes (MasterFailover.pm, MasterRotate.pm); passwords are accepted and dropped
MHA_VALUE_ARGS = ["ssh_user", "orig_master_host", "orig_master_ip", "orig_master_port",
                  "orig_master_ssh_port", "orig_master_ssh_user", "orig_master_user",
                  "orig_master_password", "new_master_host", "new_master_ip", "new_master_port",
                  "new_master_ssh_port", "new_master_ssh_user", "new_master_user",
                  "new_master_password", "ssh_options"]
SECRET_ARGS = {"orig_master_password", "new_master_password"}
CONFIG_KEYS = {"consul_addr", "service_name", "service_id", "service_port", "tags", "meta", "node",
               "use_agent", "token_file", "timeout", "retries", "read_back", "read_back_timeout"}


def seconds(text: str) -> float:
    """5, 5s, 500ms, 1m -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 5s, 500ms)")
    v = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    return v


def build_parser() -> _entry.ArgumentParser:
    # no abbreviations: `--token=SECRET` must be an error, not --token-file with a secret name
    ap = _entry.ArgumentParser(prog=PROG, policy=POLICY, description=DESCRIPTION, epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    mha = ap.add_argument_group("arguments MHA passes")
    mha.add_argument("--command", choices=["status", "stop", "stopssh", "start"],
                     help="what MHA asks for (required)")
    for name in MHA_VALUE_ARGS:
        mha.add_argument(f"--{name}", metavar="VALUE",
                         help=argparse.SUPPRESS if name in SECRET_ARGS else None)
    mha.add_argument("--orig_master_is_new_slave", action="store_true", help="online change: ignored")
    own = ap.add_argument_group("Consul")
    own.add_argument("--config", metavar="FILE", help="TOML file with the settings below (keys with _)")
    own.add_argument("--consul-addr", metavar="URL",
                     help="Consul HTTP API (default: CONSUL_HTTP_ADDR, else http://127.0.0.1:8500)")
    own.add_argument("--service-name", metavar="NAME", help="the master's service name (required)")
    own.add_argument("--service-id", metavar="ID", help="the instance ID (default: the name)")
    own.add_argument("--service-port", type=int, metavar="PORT", help="the port to register "
                     "(default: the master's port as MHA gives it)")
    own.add_argument("--tag", action="append", dest="tags", metavar="TAG", help="service tag, repeatable")
    own.add_argument("--meta", action="append", metavar="KEY=VALUE", help="service meta, repeatable")
    own.add_argument("--node", metavar="NODE", help="catalog node to register on (default: the "
                     "master's host name; an agent-less node name keeps anti-entropy away)")
    own.add_argument("--use-agent", action="store_true", default=None,
                     help="register/deregister through the agent API at --consul-addr")
    own.add_argument("--token-file", metavar="FILE", help="file holding the ACL token")
    own.add_argument("--timeout", type=seconds, metavar="DURATION", help="per HTTP attempt (default 5s)")
    own.add_argument("--retries", type=int, metavar="N", help="retries of a failed call (default 2)")
    own.add_argument("--read-back", choices=["catalog", "health"],
                     help="after a change, read the catalog (default) or health ?passing")
    own.add_argument("--read-back-timeout", type=seconds, metavar="DURATION",
                     help="how long the change may take to show (default 10s)")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return ap


def _tolerated(extra: list[str]) -> tuple[list[str], list[str]]:
    """Unknown --orig_master_*/--new_master_* arguments from a newer MHA are tolerated (names
    only are reported: values may be secrets); anything else is a usage error."""
    ok, bad = [], []
    for a in extra:
        name = a.split("=", 1)[0]
        (ok if re.fullmatch(r"--(orig_master|new_master)_[a-z_]+", name) else bad).append(name)
    return ok, bad


def settings(ap, args) -> dict:
    conf = {}
    if args.config:
        import tomllib
        try:
            with open(args.config, "rb") as f:
                conf = tomllib.load(f)
        except OSError as e:
            ap.error(f"--config {args.config}: {e.strerror}")
        except tomllib.TOMLDecodeError as e:
            ap.error(f"--config {args.config}: {e}")
        unknown = sorted(set(conf) - CONFIG_KEYS)
        if unknown:
            ap.error(f"--config {args.config}: unknown keys: {', '.join(unknown)}")
        if "token" in conf:
            ap.error("no token in the config: use token_file")
    s = {k: conf.get(k) for k in CONFIG_KEYS}
    for k in CONFIG_KEYS:
        v = getattr(args, k, None)
        if v is not None:
            s[k] = v
    if isinstance(s.get("meta"), list):
        meta = {}
        for kv in s["meta"]:
            k, eq, v = kv.partition("=")
            if not eq or not k:
                ap.error(f"--meta {kv!r}: want KEY=VALUE")
            meta[k] = v
        s["meta"] = meta
    return s


def main(argv: list[str] | None = None, *, stdout=None, stderr=None, environ=None) -> int:
    def body() -> int:
        import os
        ap = build_parser()
        args, extra = ap.parse_known_args(argv)
        tolerated, bad = _tolerated(extra)
        if bad:
            ap.error(f"unrecognized arguments: {' '.join(bad)}")
        if not args.command:
            ap.error("--command=status|stop|stopssh|start is required (MHA passes it)")
        s = settings(ap, args)
        if not s["service_name"]:
            ap.error("--service-name (or service_name in --config) is required")
        env = os.environ if environ is None else environ
        out = stdout or sys.stdout.buffer
        cmd = args.command

        def emit(rec: dict) -> None:
            line = {"ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                    "prog": PROG, "command": cmd}
            line.update((k, v) for k, v in rec.items() if v is not None)
            _entry.write_all(out, json.dumps(line, separators=(",", ":")).encode() + b"\n")
            _entry.flush(out)

        from mha_consul_failover import consul, failover
        orig = _master(ap, args, "orig", required=cmd in ("stop", "stopssh"))
        new = _master(ap, args, "new", required=cmd == "start")
        which = new if cmd == "start" else orig
        try:
            url = consul.base_url(_fill(s["consul_addr"], which), env)
        except ValueError as e:
            ap.error(str(e))
        try:
            token = consul.read_token(s["token_file"], env)
        except OSError as e:
            emit({"step": "token", "result": "error", "error": f"{e.filename}: {e.strerror}"})
            return 1
        retries = 2 if s["retries"] is None else int(s["retries"])
        if retries < 0:
            ap.error("--retries must be 0 or more")
        client = consul.Client(url, token, timeout=float(s["timeout"] or 5.0), retries=retries)
        target = failover.Target(
            service=s["service_name"], service_id=s["service_id"] or s["service_name"],
            tags=list(s["tags"] or []), meta=dict(s["meta"] or {}),
            port=s["service_port"], node=s["node"], use_agent=bool(s["use_agent"]),
            read_back=s["read_back"] or "catalog",
            read_back_timeout=float(10.0 if s["read_back_timeout"] is None else s["read_back_timeout"]))
        emit({"step": "begin", "consul": url, "service": target.service, "service_id": target.service_id,
              "orig_master": _show(orig), "new_master": _show(new), "token": "set" if token else "none",
              "ignored_args": tolerated or None})
        runner = failover.Runner(client, target, emit)
        try:
            if cmd == "status":
                runner.status(orig)
            elif cmd in ("stop", "stopssh"):
                runner.stop(orig)
            else:
                runner.start(new)
        except failover.StepFailed as e:
            emit({"step": "done", "result": "failed", "failed_step": str(e), "exit": 1})
            return 1
        emit({"step": "done", "result": "ok", "exit": 0})
        return 0

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)


def _master(ap, args, which: str, required: bool):
    from mha_consul_failover.failover import Master
    host, ip, port = (getattr(args, f"{which}_master_{k}") for k in ("host", "ip", "port"))
    if not (host or ip):
        if required:
            ap.error(f"--{which}_master_ip (or _host) is required for --command={args.command}")
        return None
    if port is not None and not str(port).isdigit():
        ap.error(f"--{which}_master_port {port!r}: not a port")
    return Master(host=host or ip, ip=ip or host, port=int(port) if port else 3306)


def _show(m) -> dict | None:
    return None if m is None else {"host": m.host, "ip": m.ip, "port": m.port}


def _fill(addr: str | None, m) -> str | None:
    """{host} / {ip} in --consul-addr: the agent on the master the command is about."""
    if addr and m is not None and "{" in addr:
        ip = f"[{m.ip}]" if ":" in m.ip else m.ip
        return addr.replace("{host}", m.host).replace("{ip}", ip)
    return addr
