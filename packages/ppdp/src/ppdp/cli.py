"""ppdp command line: kazeburo/ppdp's flags (Go spellings too), validation, wiring to server.serve()."""
from __future__ import annotations

import argparse
import ipaddress
import os

from ppdp import __version__, _entry
from ppdp.durations import duration_arg

PROG = "ppdp"

DESCRIPTION = """\
A TCP relay that reads the PROXY protocol (v1 and v2, TLVs, CRC32c) the way the spec demands,
logs every connection as one JSON (or LTSV) line on stderr, balances over the addresses of the
upstream name, propagates half-closes and stops gracefully on SIGTERM/SIGINT.
Listening sockets come from systemd (LISTEN_FDS) or Server::Starter (SERVER_STARTER_PORT) when
present, else from --listen. Durations use Go's syntax: 300ms, 3s, 1m30s."""

EPILOG = """\
examples:
  ppdp --upstream db.internal:3306 -l 0.0.0.0:3306 --proxy-protocol
  ppdp --upstream [::1]:3306 -l [::]:3307 --dump-tcp 2
exit status: 0 stopped by SIGTERM/SIGINT (after the graceful stop), 1 cannot listen, 2 usage error."""


def build_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, go_flags=True,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-l", "--listen", action="append", metavar="ADDR",
                    help="address to listen on, repeatable (default 0.0.0.0:3000; [::]:3000 for IPv6); "
                         "ignored when sockets are inherited")
    ap.add_argument("--upstream", metavar="HOST:PORT", help="upstream host:port ([v6]:port), required")
    ap.add_argument("--proxy-connect-timeout", type=duration_arg, default=60.0, metavar="DURATION",
                    help="dial timeout per upstream address (default 60s)")
    ap.add_argument("--proxy-protocol", nargs="?", const="required", default="off",
                    choices=["off", "required", "optional"],
                    help="read a PROXY header (v1 or v2) from clients: alone or =required, a "
                         "connection without a valid header is closed; =optional passes those "
                         "through (upstream's lenient mode, for migrations)")
    ap.add_argument("--proxy-trusted", action="append", default=[], metavar="CIDR",
                    help="only these sources may send a PROXY header (repeatable; default: any)")
    ap.add_argument("--proxy-header-timeout", type=duration_arg, default=3.0, metavar="DURATION",
                    help="time to receive the complete PROXY header (default 3s)")
    ap.add_argument("--send-proxy", choices=["v1", "v2"],
                    help="send a PROXY header with the client's addresses to the upstream")
    ap.add_argument("--dump-tcp", type=int, choices=[0, 1, 2], default=0,
                    help="dump bytes to the log: 0 none, 1 client to upstream, 2 both directions")
    ap.add_argument("--dump-mysql-ping", action="store_true", help="keep MySQL COM_PING packets in dumps")
    ap.add_argument("--max-connect-retry", type=int, default=3, metavar="N",
                    help="upstream addresses to try per connection (default 3)")
    ap.add_argument("--balancing", choices=["leastconn", "iphash", "remotehash", "fixed"], default="leastconn",
                    help="leastconn (default), iphash (client address), remotehash (address and port), "
                         "fixed (upstream name)")
    ap.add_argument("--max-fails", type=int, default=1, metavar="N",
                    help="skip an address after N failed dials, until the next refresh (default 1)")
    ap.add_argument("--refresh-interval", type=duration_arg, default=3.0, metavar="DURATION",
                    help="re-resolve the upstream name this often (default 3s)")
    ap.add_argument("--idle-timeout", type=duration_arg, default=0.0, metavar="DURATION",
                    help="close a connection without traffic for this long (default 0: never)")
    ap.add_argument("--shutdown-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="on SIGTERM/SIGINT, let connections finish for this long (default 10s)")
    ap.add_argument("--log-format", choices=["json", "ltsv"], default="json", help="log lines (default json)")
    ap.add_argument("--no-splice", action="store_true", help="copy through user space instead of os.splice")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def _config(ap, args):
    from ppdp.listeners import split_hostport
    from ppdp.server import Config

    if not args.upstream:
        ap.error("the required flag `--upstream' was not specified")
    try:
        host, port = split_hostport(args.upstream)
        for text in args.listen or []:
            split_hostport(text)
    except ValueError as e:
        ap.error(str(e))
    if not host:
        ap.error(f"--upstream {args.upstream!r}: no host")
    try:
        trusted = [ipaddress.ip_network(c, strict=False) for c in args.proxy_trusted]
    except ValueError as e:
        ap.error(f"--proxy-trusted: {e}")
    if args.max_connect_retry < 1:
        ap.error("--max-connect-retry must be at least 1")
    if args.refresh_interval <= 0:
        ap.error("--refresh-interval must be positive")
    return Config(listeners=[], upstream_host=host, upstream_port=port,
                  connect_timeout=args.proxy_connect_timeout or 60.0, proxy_protocol=args.proxy_protocol,
                  proxy_trusted=trusted, header_timeout=args.proxy_header_timeout,
                  send_proxy=args.send_proxy, dump_tcp=args.dump_tcp, dump_mysql_ping=args.dump_mysql_ping,
                  max_connect_retry=args.max_connect_retry, balancing=args.balancing,
                  max_fails=args.max_fails, refresh_interval=args.refresh_interval,
                  idle_timeout=args.idle_timeout, shutdown_timeout=args.shutdown_timeout,
                  splice=not args.no_splice and _splice_ok())


def _splice_ok() -> bool:
    return hasattr(os, "splice")


def _serve(ap, argv) -> int:
    args = ap.parse_args(argv)
    cfg = _config(ap, args)
    from ppdp import listeners, server
    from ppdp.logs import Logger

    log = Logger(args.log_format)
    try:
        socks = listeners.inherited()
        if socks is None:
            socks = listeners.bind(args.listen or ["0.0.0.0:3000"])
    except (OSError, ValueError) as e:
        log.error("cannot listen", error=getattr(e, "strerror", None) or str(e))
        return 1
    cfg.listeners = socks
    return server.serve(cfg, log)


def main(argv=None) -> int:
    ap = build_parser()
    return _entry.run(PROG, lambda: _serve(ap, argv))
