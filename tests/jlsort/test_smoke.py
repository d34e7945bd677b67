def test_placeholder():
    import jlsort
    assert jlsort.__version__
