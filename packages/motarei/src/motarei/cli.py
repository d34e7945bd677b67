"""motarei command line: kazeburo/motarei's flags (Go spellings too), validation, wiring."""
from __future__ import annotations

import argparse

from motarei import __version__, _entry
from motarei.durations import duration_arg

PROG = "motarei"

DESCRIPTION = """\
A TCP proxy for hot deploys with docker: listens on each TCP private port of the newest running
container that has the label, and forwards each connection to the published ports of the matching
containers, newest first, falling through to older ones when a dial fails. Follows Docker events
(with a periodic resync); a container that is stopping gets no new connections and keeps its open
ones. The Docker engine is found as the docker CLI finds it (DOCKER_HOST, DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH)."""

EPILOG = """\
examples:
  motarei -l app=nginx --bind 0.0.0.0
  motarei -l app=api --require-healthy --proxy-connect-timeout 3s
exit status: 0 stopped by SIGTERM/SIGINT (after the graceful stop), 1 cannot reach the Docker
engine at start, 2 usage error."""


def build_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, go_flags=True,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-l", "--label", action="append", metavar="KEY=VALUE",
                    help="docker label filter (label=KEY=VALUE), required; repeatable (all must match)")
    ap.add_argument("--bind", default="0.0.0.0", metavar="ADDR", help="address to listen on (default 0.0.0.0)")
    ap.add_argument("--proxy-connect-timeout", type=duration_arg, default=60.0, metavar="DURATION",
                    help="dial timeout per backend (default 60s)")
    ap.add_argument("--proxy-connect-ip", default="127.0.0.1", metavar="IP",
                    help="address of the published ports (default 127.0.0.1)")
    ap.add_argument("--require-healthy", action="store_true",
                    help="only containers whose HEALTHCHECK says healthy (containers without one count as healthy)")
    ap.add_argument("--resync-interval", type=duration_arg, default=30.0, metavar="DURATION",
                    help="list the containers again this often besides following events (default 30s)")
    ap.add_argument("--shutdown-timeout", type=duration_arg, default=10.0, metavar="DURATION",
                    help="on SIGTERM/SIGINT, let connections finish for this long (default 10s)")
    ap.add_argument("--log-format", choices=["json", "ltsv"], default="json", help="log lines (default json)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def _serve(ap, argv) -> int:
    args = ap.parse_args(argv)
    if not args.label:
        ap.error("the required flag `-l, --label' was not specified")
    if args.resync_interval <= 0:
        ap.error("--resync-interval must be positive")
    from motarei.logs import Logger
    from motarei.server import Config, serve

    log = Logger(args.log_format)
    try:
        from motarei.engine import Engine
        engine = Engine(args.label)
    except Exception as e:                          # docker.errors.DockerException and friends
        log.error("cannot reach the Docker engine", error=str(e) or type(e).__name__)
        return 1
    cfg = Config(labels=args.label, bind=args.bind, connect_ip=args.proxy_connect_ip,
                 connect_timeout=args.proxy_connect_timeout or 60.0, require_healthy=args.require_healthy,
                 resync_interval=args.resync_interval, shutdown_timeout=args.shutdown_timeout)
    return serve(cfg, engine, log)


def main(argv=None) -> int:
    ap = build_parser()
    return _entry.run(PROG, lambda: _serve(ap, argv))
