"""The option parser (argparse through the entry template): Go-style spellings, values that look
like options, abbreviations; and the glob of the cleanup."""
import pytest
from relaxlogs.cli import build_parser, main
from relaxlogs.rotator import pattern_glob


def parse(argv):
    return vars(build_parser().parse_args(argv))


def test_defaults():
    a = parse([])
    assert (a["log_dir"], a["rotation_time"], a["max_age"], a["with_time"], a["time_format"]) == \
        ("", 60, 1440, False, None)
    assert (a["pattern"], a["link"], a["max_size"], a["keep"], a["retry"], a["retry_interval"]) == \
        ("log.%Y%m%d%H%M", "current", 0, 0, 5, 1.0)


@pytest.mark.parametrize("argv", [
    ["-log-dir", "/x", "-rotation-time", "1440", "-max-age", "0", "-with-time"],   # upstream's
    ["--log-dir", "/x", "--rotation-time", "1440", "--max-age", "0", "--with-time"],
    ["-log-dir=/x", "-rotation-time=1440", "--max-age=0", "-with-time=true"],
])
def test_upstream_spellings(argv):
    a = parse(argv)
    assert (a["log_dir"], a["rotation_time"], a["max_age"], a["with_time"]) == ("/x", 1440, 0, True)


def test_values_that_look_like_options():
    assert parse(["--retry", "-1"])["retry"] == -1
    assert parse(["--retry=-1"])["retry"] == -1
    assert parse(["-log-dir", "-odd"])["log_dir"] == "-odd"     # Go: the next argument is the value
    assert parse(["--log-dir", ""])["log_dir"] == ""


def test_other_options_and_units():
    a = parse(["--max-size", "100M", "--keep", "3", "--tz", "UTC", "--fsync", "rotate",
               "--time-format=rfc3339", "--compress", "gzip", "--post-rotate", "echo", "--lock",
               "--tee", "-with-time=false"])
    assert (a["max_size"], a["keep"], a["tz"], a["fsync"], a["time_format"]) == \
        (100 << 20, 3, "UTC", "rotate", "rfc3339")
    assert (a["compress"], a["post_rotate"], a["lock"], a["tee"], a["with_time"]) == \
        ("gzip", "echo", True, True, False)
    assert parse(["--max-size", "1.5k"])["max_size"] == 1536


@pytest.mark.parametrize("argv", [["--log", "x"], ["--max"], ["--tee=maybe"], ["--fsync", "always"],
                                  ["--log-dir"], ["--keep", "-1"], ["--max-size", "-5"]])
def test_refused(argv, capsys):
    assert main(argv) == 2                    # abbreviations too (allow_abbrev=False)
    assert "relaxlogs: error:" in capsys.readouterr().err


@pytest.mark.parametrize("pattern,want", [
    ("/d/log.%Y%m%d%H%M", "/d/log.*"),
    ("/d/%Y/%m/app.log", "/d/*/*/app.log"),
    ("/d/a%%b.%-d", "/d/a%b.*"),
    ("/d/x*?[.%Y", "/d/x[*][?][[].*"),
    ("/d/%q%", "/d/*%"),
])
def test_pattern_glob(pattern, want):
    assert pattern_glob(pattern) == want
