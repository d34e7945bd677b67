import pytest
from hypothesis import given
from hypothesis import strategies as st
from sabo.units import parse_size


@pytest.mark.parametrize("text,value", [
    ("100M", 100_000_000), ("100MB", 100_000_000), ("100mb", 100_000_000), ("100 M", 100_000_000),
    ("32K", 32_000), ("32k", 32_000), ("100Mi", 104_857_600), ("100MiB", 104_857_600),
    ("100mib", 104_857_600), ("1.5M", 1_500_000), ("1,000", 1000), ("5", 5), ("5B", 5),
    ("1G", 10 ** 9), ("1Gi", 2 ** 30), ("2T", 2 * 10 ** 12),
    # bits (not in upstream): divided by 8
    ("800Mbit", 100_000_000), ("800 Mbits", 100_000_000), ("100Mbps", 12_500_000),
    ("1Gibit", 2 ** 30 // 8), ("8bit", 1),
    # an optional "/s"
    ("12.5MB/s", 12_500_000), ("10 MiB/s", 10 * 2 ** 20),
])
def test_units(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "M", "-1", "1X", "1Gx", "ten", "1.2.3M"])
def test_bad_units(text):
    with pytest.raises(ValueError):
        parse_size(text)


@given(st.integers(min_value=0, max_value=10 ** 6),
       st.sampled_from([("k", 1000), ("m", 10 ** 6), ("g", 10 ** 9), ("ki", 1024), ("mi", 2 ** 20)]),
       st.booleans(), st.booleans())
def test_units_property(n, unit, upper, space):
    suffix, mult = unit
    s = suffix.upper() if upper else suffix
    sep = " " if space else ""
    assert parse_size(f"{n}{sep}{s}") == n * mult
    assert parse_size(f"{n}{sep}{s}B") == n * mult
    assert parse_size(f"{n * 8}{sep}{s}bit") == n * mult
