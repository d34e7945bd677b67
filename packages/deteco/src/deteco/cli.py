"""deteco command line: kazeburo/deteco's flags (server), `deteco token` (operators' tokens).
Thin: parse, validate, load, hand one function to the suite's entry template."""
from __future__ import annotations

import argparse
import sys

from deteco import __version__, _entry
from deteco.durations import duration_arg

PROG = "deteco"

EPILOG = """\
nginx:
  location /private/ {
      auth_request /_auth;
      auth_request_set $deteco_user $upstream_http_x_deteco_user;
      proxy_set_header X-Deteco-User $deteco_user;
      proxy_pass http://backend;
  }
  location = /_auth {
      internal;
      proxy_pass http://127.0.0.1:8080/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
  }
  (under load: upstream deteco { server 127.0.0.1:8080; keepalive 16; }, then in /_auth
  proxy_pass http://deteco/auth; proxy_http_version 1.1; proxy_set_header Connection "";)
token for operators: deteco token --key private.pem --sub SERVICE_ID [--ttl 1h]
exit status: 0 stopped by SIGTERM/SIGINT (or --dry-run passed), 1 bad configuration or cannot
listen, 2 usage error."""


def build_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, go_flags=True, epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               description="JWT authentication server for nginx auth_request: a token "
                                           "whose sub is a service, whose paths allow X-Original-URI.")
    ap.add_argument("--listen", action="append", metavar="ADDR",
                    help="address to listen on, repeatable (default 127.0.0.1:8080); ignored when "
                         "sockets are inherited")
    ap.add_argument("--conf", metavar="FILE", help="TOML configuration (required)")
    ap.add_argument("--dry-run", action="store_true", help="load and lint the configuration, then exit")
    ap.add_argument("--jwt-freshness", type=duration_arg, default=3600.0, metavar="DURATION",
                    help="maximum age of a token's iat (default 1h)")
    ap.add_argument("--auth-endpoint", default="auth", metavar="PATH", help="the auth path, without / (default auth)")
    ap.add_argument("--cache-size", type=int, default=1000, metavar="N", help="verified tokens cached (0: none)")
    ap.add_argument("--prune-size", type=int, default=100, metavar="N", help="entries dropped when the cache is full")
    ap.add_argument("--shutdown-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="on SIGTERM/SIGINT, let requests finish this long (default 10s)")
    ap.add_argument("--idle-timeout", type=duration_arg, default=60.0, metavar="DURATION",
                    help="close a connection that sent no complete request this long after the connect "
                         "or the previous answer (default 60s)")
    ap.add_argument("--empty-auth-body", action="store_true",
                    help="answer the auth endpoint with empty bodies instead of upstream's text (OK, "
                         "Unauthorized, Forbidden): nginx keeps its keepalive connection to deteco only "
                         "after an auth_request answer without a body (recommended behind nginx)")
    ap.add_argument("--log-format", choices=["json", "ltsv"], default="json", help="log lines (default json)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def token_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=f"{PROG} token", go_flags=True,
                               description="Print a signed token for a service (RS256 for RSA keys, "
                                           "ES256/384/512 for EC keys, EdDSA for Ed25519).")
    ap.add_argument("--key", required=True, metavar="FILE", help="private key (PEM)")
    ap.add_argument("--sub", required=True, metavar="ID", help="the service id")
    ap.add_argument("--ttl", type=duration_arg, default=3600.0, metavar="DURATION", help="exp - iat (default 1h)")
    ap.add_argument("--aud", metavar="AUD")
    ap.add_argument("--iss", metavar="ISS")
    return ap


def _token(argv) -> int:
    import time

    from deteco import tokens
    args = token_parser().parse_args(argv)
    try:
        with open(args.key, "rb") as f:
            key, alg = tokens.load_private_key(f.read(), args.key)
    except OSError as e:
        print(f"{PROG}: {args.key}: {e.strerror}", file=sys.stderr)
        return 1
    except tokens.KeyError_ as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    now = int(time.time())
    claims = {"sub": args.sub, "iat": now, "exp": now + int(args.ttl)}
    if args.aud:
        claims["aud"] = args.aud
    if args.iss:
        claims["iss"] = args.iss
    sys.stdout.write(tokens.sign(key, alg, claims) + "\n")
    return 0


def _serve(ap, argv) -> int:
    args = ap.parse_args(argv)
    if not args.conf:
        ap.error("the required flag `--conf' was not specified")
    if args.cache_size < 0 or args.prune_size < 1:
        ap.error("--cache-size must be >= 0 and --prune-size >= 1")
    if args.idle_timeout <= 0:
        ap.error("--idle-timeout must be > 0")
    from deteco import config, listeners, server
    from deteco.logs import Logger
    log = Logger(args.log_format)
    try:
        services = config.load(args.conf)
    except config.ConfigError as e:
        log.error("cannot load the configuration", error=str(e))
        return 1
    for s in services.values():
        for w in s.warnings:
            log.warn("lint", service=s.id, warning=w)
    if args.dry_run:
        log.info("configuration ok", services=len(services),
                 paths=sum(len(s.paths) for s in services.values()),
                 keys=sum(len(s.keys) for s in services.values()))
        return 0
    try:
        socks = listeners.inherited()
        if socks is None:
            socks = listeners.bind(args.listen or ["127.0.0.1:8080"])
    except (OSError, ValueError) as e:
        log.error("cannot listen", error=getattr(e, "strerror", None) or str(e))
        return 1
    cfg = server.Config(listeners=socks, conf_path=args.conf, freshness=args.jwt_freshness,
                        endpoint=args.auth_endpoint, cache_size=args.cache_size, prune_size=args.prune_size,
                        shutdown_timeout=args.shutdown_timeout, idle_timeout=args.idle_timeout,
                        empty_auth_body=args.empty_auth_body)
    return server.serve(cfg, services, log)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["token"]:
        return _entry.run(PROG, lambda: _token(argv[1:]))
    ap = build_parser()
    return _entry.run(PROG, lambda: _serve(ap, argv))
