#!/usr/bin/env python3
"""Sum the JUnit XML files that scripts/test asked pytest to write, one per tox env, and print one
line per env and the closing line `total: N passed, N failed, N skipped`. An env with no result
file (tox failed before pytest ran) or with zero tests counts as a failure."""
import pathlib
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    results = pathlib.Path(sys.argv[1])
    envs = sys.argv[2:]
    tp = tf = ts = 0
    bad = False
    for env in envs:
        f = results / f"{env}.xml"
        if not f.is_file():
            print(f"{env}: no test results (the env failed before pytest ran)")
            bad = True
            continue
        root = ET.parse(f).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        n = sum(int(s.get("tests", 0)) for s in suites)
        failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
        passed = n - failed - skipped
        if n == 0:
            bad = True
        print(f"{env}: {passed} passed, {failed} failed, {skipped} skipped")
        tp, tf, ts = tp + passed, tf + failed, ts + skipped
    print(f"total: {tp} passed, {tf} failed, {ts} skipped")
    return 1 if bad or tf else 0


if __name__ == "__main__":
    sys.exit(main())
