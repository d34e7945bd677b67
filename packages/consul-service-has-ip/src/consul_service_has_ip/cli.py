"""consul-service-has-ip command line: kazeburo/consul-service-has-ip's flags (Go spellings too),
validation, wiring to server.serve()."""
from __future__ import annotations

import argparse
import os

from consul_service_has_ip import __version__, _entry
from consul_service_has_ip.durations import duration_arg

PROG = "consul-service-has-ip"

DESCRIPTION = """\
An HTTP check that an IP address is in a Consul service: GET /has/{service}/{ip} answers 200
{"error":0} when one of the service's passing instances has that address (Service.Address, or
the node's Address when the service has none; compared as IP addresses), 404 when none has it,
500 when Consul cannot answer. Answers come from a local watch of each service asked about
(Consul blocking queries on /v1/health/service/NAME?passing), so a check costs no Consul round
trip. GET /live answers 200. Listening sockets come from systemd (LISTEN_FDS) or Server::Starter
(SERVER_STARTER_PORT) when present, else from --listen/--port. Durations: 300ms, 30s, 1m30s."""

EPILOG = """\
examples:
  consul-service-has-ip --consul-api-endpoint http://127.0.0.1:8500 -l 127.0.0.1 -p 3000
  curl -s localhost:3000/has/mysql-master/10.0.0.11
exit status: 0 stopped by SIGTERM/SIGINT (after the graceful stop), 1 cannot listen, 2 usage error."""


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, go_flags=True,
                               formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    ap.add_argument("-l", "--listen", action="append", metavar="ADDR",
                    help="address to bind (default 0.0.0.0); repeatable; ADDR:PORT or [v6]:PORT "
                         "overrides --port; ignored when sockets are inherited")
    ap.add_argument("-p", "--port", type=int, default=3000, help="port to bind (default 3000)")
    ap.add_argument("--read-timeout", type=duration_arg, default=30.0, metavar="DURATION",
                    help="time to receive a request's headers (default 30s)")
    ap.add_argument("--write-timeout", type=duration_arg, default=90.0, metavar="DURATION",
                    help="time a blocked response write may take (default 90s)")
    ap.add_argument("--shutdown-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="on SIGTERM/SIGINT, let requests finish for this long (default 10s)")
    ap.add_argument("--timeout", type=duration_arg, default=30.0, metavar="DURATION",
                    help="time to wait for Consul's response headers (default 30s)")
    ap.add_argument("--access-log-dir", default="", metavar="DIR",
                    help="access log: empty (stderr), stdout, none, or a directory (daily files "
                         "access_log.YYYYMMDD and a `current` symlink)")
    ap.add_argument("--access-log-rotate", type=int, default=30, metavar="DAYS",
                    help="days of access log files to keep in --access-log-dir (default 30)")
    ap.add_argument("--consul-api-endpoint", metavar="URL",
                    help="Consul HTTP API (default: CONSUL_HTTP_ADDR; required one way or the other)")
    ap.add_argument("--token-file", metavar="FILE",
                    help="file with the Consul ACL token (else CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE)")
    ap.add_argument("--max-stale", type=duration_arg, default=30.0, metavar="DURATION",
                    help="answer from the watch for this long after Consul stopped answering it, "
                         "then ask Consul directly (default 30s)")
    ap.add_argument("--no-watch", action="store_true",
                    help="no local watch: one Consul query per check (upstream's behaviour)")
    ap.add_argument("--watch-wait", type=duration_arg, default=60.0, metavar="DURATION",
                    help="the blocking queries' wait (default 60s)")
    ap.add_argument("--log-format", choices=["json", "ltsv"], default="json", help="log lines (default json)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def listen_addresses(ap, args) -> list[str]:
    from consul_service_has_ip.listeners import split_hostport
    out = []
    for text in args.listen or ["0.0.0.0"]:
        try:
            if text.startswith("[") or text.count(":") == 1 or text.isdigit():
                split_hostport(text)
                out.append(text)
            elif ":" in text:                     # a bare IPv6 address
                out.append(f"[{text}]:{args.port}")
            else:
                out.append(f"{text}:{args.port}")
        except ValueError as e:
            ap.error(f"--listen {text!r}: {e}")
    return out


def _token(args, environ) -> str | None:
    path = args.token_file or (None if environ.get("CONSUL_HTTP_TOKEN") else environ.get("CONSUL_HTTP_TOKEN_FILE"))
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    return environ.get("CONSUL_HTTP_TOKEN", "").strip() or None


def _serve(ap, argv) -> int:
    args = ap.parse_args(argv)
    endpoint = args.consul_api_endpoint or os.environ.get("CONSUL_HTTP_ADDR")
    if not endpoint:
        ap.error("the required flag `--consul-api-endpoint' was not specified (or set CONSUL_HTTP_ADDR)")
    if not 0 <= args.port <= 65535:
        ap.error(f"--port {args.port}: not a port")
    addrs = listen_addresses(ap, args)
    from consul_service_has_ip import listeners, server
    from consul_service_has_ip.consul import Endpoint
    from consul_service_has_ip.logs import Logger
    try:
        Endpoint(endpoint)
    except ValueError as e:
        ap.error(str(e))
    log = Logger(args.log_format)
    token = _token(args, os.environ)        # an unreadable file: `prog: FILE: reason`, exit 1
    try:
        socks = listeners.inherited()
        if socks is None:
            socks = listeners.bind(addrs)
    except (OSError, ValueError) as e:
        log.error("cannot listen", error=getattr(e, "strerror", None) or str(e))
        return 1
    cfg = server.Config(listeners=socks, endpoint=endpoint, token=token, read_timeout=args.read_timeout,
                        write_timeout=args.write_timeout, shutdown_timeout=args.shutdown_timeout,
                        timeout=args.timeout or 30.0, max_stale=args.max_stale, watch=not args.no_watch,
                        wait=max(1.0, args.watch_wait), access_log=args.access_log_dir,
                        access_log_rotate=args.access_log_rotate)
    try:
        return server.serve(cfg, log)
    except OSError as e:
        log.error("cannot open the access log", error=e.strerror or str(e), path=e.filename)
        return 1


def main(argv=None) -> int:
    ap = build_parser()
    return _entry.run(PROG, lambda: _serve(ap, argv))
