"""Plain helper modules shared by the package test directories (standard library and pytest only;
anything else is imported inside the function that needs it). tests/conftest.py puts tests/ on
sys.path, so a package conftest imports them as `from support.peers import ...`."""
