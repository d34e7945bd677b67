from hypothesis import given
from hypothesis import strategies as st
from relaxlogs.lines import Splitter


def reference(data: bytes) -> bytes:
    if not data:
        return b""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return b"".join((x[:-1] if x.endswith(b"\r") else x) + b"\n" for x in lines)


def run(chunks, max_line=0, prefix=b""):
    s = Splitter(max_line)
    return b"".join(b"".join(s.feed(c, prefix)) for c in chunks) + s.finish(prefix)


def chunked(data, cuts):
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for c in cuts + [len(data)]:
        out.append(data[prev:c])
        prev = c
    return [c for c in out if c]


alphabet = st.sampled_from([b"a", b"b", b"\r", b"\n", b"\r\n", b"xyz"])


@given(st.lists(alphabet, max_size=60).map(b"".join), st.lists(st.integers(0, 1000), max_size=8))
def test_any_chunking_gives_the_reference(data, cuts):
    assert run(chunked(data, cuts)) == reference(data)


@given(st.lists(alphabet, max_size=60).map(b"".join), st.lists(st.integers(0, 1000), max_size=8))
def test_prefix_on_every_line(data, cuts):
    out = run(chunked(data, cuts), prefix=b"T ")
    ref = reference(data)
    assert out == b"".join(b"T " + x + b"\n" for x in ref.split(b"\n")[:-1])


@given(st.lists(alphabet, max_size=80).map(b"".join), st.lists(st.integers(0, 1000), max_size=8),
       st.integers(1, 7))
def test_max_line_cuts_but_loses_nothing(data, cuts, n):
    out = run(chunked(data, cuts), max_line=n)
    assert all(len(x) <= n for x in out.split(b"\n"))
    # nothing lost: removing the newlines gives the same bytes as the reference
    assert out.replace(b"\n", b"") == reference(data).replace(b"\n", b"")


def test_crlf_and_missing_newline():
    assert run([b"a\r\nb\r"]) == b"a\nb\n"
    assert run([b"a\r", b"\nb"]) == b"a\nb\n"
    assert run([b"a\rb\n"]) == b"a\rb\n"      # a lone CR inside a line is data


def test_huge_line_no_limit():
    line = b"x" * (10 * 1024 * 1024)
    chunks = [line[i:i + 65536] for i in range(0, len(line), 65536)] + [b"\nend\n"]
    assert run(chunks) == line + b"\nend\n"


def count_run(chunks, n):
    s = Splitter(n)
    for c in chunks:
        s.feed(c)
    s.finish()
    return s.split_lines


@given(st.lists(alphabet, max_size=80).map(b"".join), st.lists(st.integers(0, 1000), max_size=8),
       st.integers(1, 7))
def test_split_count_does_not_depend_on_read_boundaries(data, cuts, n):
    # issue 14 item 7: a line cut while still unfinished was counted again at each read
    want = sum(1 for x in reference(data).split(b"\n")[:-1] if len(x) > n)
    assert count_run(chunked(data, cuts), n) == want


def test_one_long_line_in_many_reads_is_one_split_line():
    line = b"x" * 2_500_000 + b"\n"
    chunks = [line[i:i + 65536] for i in range(0, len(line), 65536)]
    assert count_run(chunks, 1000) == 1
    assert count_run([line], 1000) == 1
