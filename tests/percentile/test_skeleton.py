def test_placeholder():
    import percentile
    assert percentile.__version__
