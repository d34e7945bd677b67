def test_version():
    from qlap.cli import main
    import io
    out = io.BytesIO()
    assert main(["--version"], stdout=out, stderr=io.BytesIO()) == 0
    assert out.getvalue().startswith(b"qlap ")
