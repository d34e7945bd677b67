"""wsgate command lines: wsgate-server (kazeburo/wsgate-server's single-dash flags), wsgate-client
(kazeburo/wsgate-client's flags) and `wsgate server|client ...` (the same two). Thin: parse,
validate, load the files, hand one function to the suite's entry template."""
from __future__ import annotations

import argparse
import sys

from wsgate import __version__, _entry
from wsgate.durations import duration_arg

SERVER_EPILOG = """\
map file lines: name,host:port[,sub1|sub2]   (# comments; /proxy/name; the subjects allowed)
examples:
  wsgate-server -listen 127.0.0.1:8086 -map /etc/wsgate/map -public-key /etc/wsgate/keys.pem
exit status: 0 stopped by SIGTERM/SIGINT (after the graceful stop), 1 cannot listen or bad
map/key file at start, 2 usage error."""

CLIENT_EPILOG = """\
map file lines: listen_addr,url   (http(s):// becomes ws(s)://; Origin is the URL's scheme://host)
examples:
  wsgate-client --map tunnels --private-key id.pem --private-key-user alice
  wsgate-client --map tunnels -H 'X-Team: dba' --iap-credential sa.json --iap-client-id ID
exit status: 0 stopped by SIGTERM/SIGINT, 1 cannot listen or bad files at start, 2 usage error."""


def _common(ap, prog):
    ap.add_argument("--log-format", choices=["json", "ltsv"], default="json", help="log lines (default json)")
    ap.add_argument("-v", "--version", action="version", version=f"{prog} {__version__}")


def server_parser(prog: str = "wsgate-server") -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=prog, go_flags=True, epilog=SERVER_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               description="TCP over WebSocket, server side: /proxy/{dest} to the "
                                           "map's host:port, with JWT (and IAP) authentication.")
    ap.add_argument("--listen", action="append", metavar="ADDR",
                    help="address to listen on, repeatable (default 127.0.0.1:8086); ignored when "
                         "sockets are inherited (LISTEN_FDS, SERVER_STARTER_PORT)")
    ap.add_argument("--map", metavar="FILE", help="destination map file (required)")
    ap.add_argument("--public-key", action="append", default=[], metavar="FILE",
                    help="public keys verifying bearer JWTs: PEM blocks or JWKS; repeatable (rotation)")
    ap.add_argument("--jwt-freshness", type=duration_arg, default=3600.0, metavar="DURATION",
                    help="maximum age of a token's iat (default 1h)")
    ap.add_argument("--handshake_timeout", "--handshake-timeout", type=duration_arg, default=10.0,
                    metavar="DURATION", help="WebSocket opening handshake timeout (default 10s)")
    ap.add_argument("--dial_timeout", "--dial-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="upstream dial timeout (default 10s)")
    ap.add_argument("--write_timeout", "--write-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="time for the upstream to accept a message's bytes (default 10s)")
    ap.add_argument("--shutdown_timeout", "--shutdown-timeout", type=duration_arg, default=10.0,
                    metavar="DURATION", help="on SIGTERM/SIGINT, let tunnels finish this long (default 10s)")
    ap.add_argument("--enable_compression", "--enable-compression", action="store_true",
                    help="negotiate permessage-deflate (RFC 7692)")
    ap.add_argument("--dump-tcp", type=int, choices=[0, 1, 2], default=0,
                    help="log the bytes: 0 none, 1 client to upstream, 2 both directions")
    ap.add_argument("--iap-public-keys", action="append", default=[], metavar="FILE",
                    help="require IAP's x-goog-iap-jwt-assertion, verified with these keys (JWKS or PEM)")
    ap.add_argument("--iap-audience", metavar="AUD",
                    help="the assertion's required aud (/projects/NUMBER/global/backendServices/ID)")
    ap.add_argument("--ping-interval", type=duration_arg, default=30.0, metavar="DURATION",
                    help="WebSocket ping this often; a tunnel whose pong is late is closed (default 30s, 0 off)")
    ap.add_argument("--idle-timeout", type=duration_arg, default=0.0, metavar="DURATION",
                    help="close a tunnel without traffic for this long (default 0: never)")
    _common(ap, prog)
    return ap


def client_parser(prog: str = "wsgate-client") -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=prog, go_flags=True, epilog=CLIENT_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               description="TCP over WebSocket, client side: local ports to "
                                           "wsgate-server URLs.")
    ap.add_argument("--map", metavar="FILE", help="tunnel map file (required)")
    ap.add_argument("--connect-timeout", type=duration_arg, default=60.0, metavar="DURATION",
                    help="WebSocket connect and handshake timeout (default 60s)")
    ap.add_argument("--shutdown-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="on SIGTERM/SIGINT, let tunnels finish this long (default 10s)")
    ap.add_argument("--enable-compression", action="store_true", help="offer permessage-deflate")
    ap.add_argument("-H", "--headers", action="append", default=[], metavar="'NAME: VALUE'",
                    help="an extra request header, repeatable")
    ap.add_argument("--private-key", metavar="FILE", help="sign bearer tokens with this private key (PEM)")
    ap.add_argument("--private-key-user", metavar="SUB", help="the tokens' sub")
    ap.add_argument("--iap-credential", metavar="FILE", help="service-account JSON for an IAP ID token")
    ap.add_argument("--iap-client-id", metavar="ID", help="IAP's OAuth client id (the ID token's audience)")
    ap.add_argument("--ping-interval", type=duration_arg, default=30.0, metavar="DURATION",
                    help="WebSocket ping this often (default 30s, 0 off)")
    _common(ap, prog)
    return ap


def _logger(fmt):
    from wsgate.logs import Logger
    return Logger(fmt)


def _run_server(ap, args) -> int:
    if not args.map:
        ap.error("flag -map is required")
    if bool(args.iap_public_keys) != bool(args.iap_audience):
        ap.error("-iap-public-keys and -iap-audience go together")
    from wsgate import listeners, server
    log = _logger(args.log_format)
    cfg = server.Config(listeners=[], map_path=args.map, key_paths=args.public_key,
                        freshness=args.jwt_freshness, handshake_timeout=args.handshake_timeout,
                        dial_timeout=args.dial_timeout, write_timeout=args.write_timeout,
                        shutdown_timeout=args.shutdown_timeout, compression=args.enable_compression,
                        dump_tcp=args.dump_tcp, iap_key_paths=args.iap_public_keys,
                        iap_audience=args.iap_audience, ping_interval=args.ping_interval,
                        ping_timeout=args.ping_interval, idle_timeout=args.idle_timeout)
    try:
        settings = server.load_settings(cfg)
    except (OSError, ValueError) as e:
        log.error("cannot load the configuration",
                  error=str(e) if isinstance(e, ValueError) else f"{e.filename}: {e.strerror}")
        return 1
    try:
        socks = listeners.inherited()
        if socks is None:
            socks = listeners.bind(args.listen or ["127.0.0.1:8086"])
    except (OSError, ValueError) as e:
        log.error("cannot listen", error=getattr(e, "strerror", None) or str(e))
        return 1
    cfg.listeners = socks
    return server.serve(cfg, settings, log)


def _run_client(ap, args) -> int:
    if not args.map:
        ap.error("the required flag `--map' was not specified")
    if args.private_key and args.iap_credential:
        ap.error("--private-key and --iap-credential exclude each other")
    if args.private_key and not args.private_key_user:
        ap.error("--private-key needs --private-key-user")
    if args.iap_credential and not args.iap_client_id:
        ap.error("--iap-credential needs --iap-client-id")
    from wsgate import client, mapfile, tokens
    headers = []
    for h in args.headers:
        try:
            headers.append(client.parse_header(h))
        except ValueError as e:
            ap.error(str(e))
    log = _logger(args.log_format)
    try:
        with open(args.map, encoding="utf-8", errors="surrogateescape") as f:
            tunnels = mapfile.parse_client_map(f.read(), args.map)
        ts = None
        if args.private_key:
            with open(args.private_key, "rb") as f:
                key, alg = tokens.load_private_key(f.read(), args.private_key)
            ts = tokens.TokenSource(key, alg, args.private_key_user, issuer="wsgate-client")
        elif args.iap_credential:
            ts = client.IAPTokenSource(args.iap_credential, args.iap_client_id)
    except (OSError, ValueError) as e:
        log.error("cannot load the configuration",
                  error=str(e) if isinstance(e, ValueError) else f"{e.filename}: {e.strerror}")
        return 1
    cfg = client.Config(tunnels=tunnels, headers=headers, connect_timeout=args.connect_timeout,
                        shutdown_timeout=args.shutdown_timeout, compression=args.enable_compression,
                        token_source=ts, ping_interval=args.ping_interval, ping_timeout=args.ping_interval)
    return client.serve(cfg, log)


def server_main(argv=None) -> int:
    ap = server_parser()
    return _entry.run("wsgate-server", lambda: _run_server(ap, ap.parse_args(argv)))


def client_main(argv=None) -> int:
    ap = client_parser()
    return _entry.run("wsgate-client", lambda: _run_client(ap, ap.parse_args(argv)))


def main(argv=None) -> int:
    """`wsgate server ...` and `wsgate client ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _entry.ArgumentParser(prog="wsgate", description="TCP over WebSocket with JWT auth: "
                                "`wsgate server ...` is wsgate-server, `wsgate client ...` is wsgate-client.")
    top.add_argument("command", choices=["server", "client"])
    top.add_argument("args", nargs=argparse.REMAINDER, help="the command's options (see wsgate server --help)")
    top.add_argument("--version", action="version", version=f"wsgate {__version__}")

    def body():
        ns = top.parse_args(argv[:1]) if argv and argv[0] in ("server", "client") else top.parse_args(argv)
        if ns.command == "server":
            ap = server_parser("wsgate server")
            return _run_server(ap, ap.parse_args(argv[1:]))
        ap = client_parser("wsgate client")
        return _run_client(ap, ap.parse_args(argv[1:]))

    return _entry.run("wsgate", body)
