"""sort.Sorter's public methods, the ones the one-process sort and the --parallel workers share:
take_sorted (the in-memory chunk, sorted and handed over), spill (one more run on disk) and
finish_runs (what is left spilled, at most FANIN runs)."""
from __future__ import annotations

import pytest
from jlsort import sort
from jlsort.keys import parse_keyspec
from jlsort.records import Extractor, Stats


def _sorter(tmp_path, capacity=1 << 30):
    specs = [parse_keyspec("k")]
    return specs, sort.Sorter(specs, capacity, str(tmp_path))


def _add(sorter, specs, values):
    lines = [b'{"k":%d}' % v for v in values]
    ex = Extractor(specs, Stats("t"), "skip")
    kept, comps, _ = ex.block(lines, "-", 0)
    sorter.add(kept, comps, None, ex.last_str)


def _all_lines(runs):
    out = []
    for r in runs:
        for _, lines in r.blocks():
            out += lines
    return out


def test_take_sorted_hands_over_the_sorted_chunk_and_empties_the_buffer(tmp_path):
    specs, s = _sorter(tmp_path)
    _add(s, specs, [3, 1, 2])
    keys, lines, kinds, rev = s.take_sorted()
    assert lines == [b'{"k":1}', b'{"k":2}', b'{"k":3}'] and len(keys) == 3 and not rev
    assert s.lines == [] and s.mem == 0 and s.runs == []


def test_spill_writes_a_sorted_run_and_finish_runs_spills_the_rest(tmp_path):
    specs, s = _sorter(tmp_path)
    _add(s, specs, [5, 4])
    s.spill()
    assert len(s.runs) == 1 and s.lines == []
    _add(s, specs, [2, 9, 1])
    s.finish_runs()
    assert [r.count for r in s.runs] == [2, 3] and s.lines == []
    assert [_all_lines([r]) for r in s.runs] == [[b'{"k":4}', b'{"k":5}'],
                                                 [b'{"k":1}', b'{"k":2}', b'{"k":9}']]
    s.close()


def test_finish_runs_merges_down_to_fanin_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sort, "FANIN", 3)
    specs, s = _sorter(tmp_path)
    for v in range(7, 0, -1):
        _add(s, specs, [v])
        s.spill()
    s.finish_runs()
    assert len(s.runs) <= 3
    assert sorted(_all_lines(s.runs)) == [b'{"k":%d}' % v for v in range(1, 8)]
    s.close()


@pytest.mark.parametrize("name", ["_spill", "_sorted_chunk", "_cascade"])
def test_parallel_uses_only_the_public_methods(name):
    import inspect

    from jlsort import parallel
    assert f"sorter.{name}" not in inspect.getsource(parallel)
