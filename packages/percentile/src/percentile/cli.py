"""Skeleton CLI (to be replaced by the real implementation)."""
import argparse
import sys

from percentile import __version__


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="percentile")
    ap.add_argument("--version", action="version", version=f"percentile {__version__}")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    vals = []
    rc = 0
    for f in args.files or ["-"]:
        try:
            data = sys.stdin.buffer.read() if f == "-" else open(f, "rb").read()
        except OSError as e:
            print(f"percentile: {f}: {e.strerror}", file=sys.stderr)
            rc = 1
            continue
        vals += [float(x) for x in data.split()]
    if vals:
        vals.sort()
        sys.stdout.write(f"count: {len(vals)}\nmax: {vals[-1]:.4f}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
