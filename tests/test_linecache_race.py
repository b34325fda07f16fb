"""The test session survives SymPy's linecache finaliser racing a lookup (see conftest.py)."""

import linecache


def test_vanished_linecache_entry_reads_empty():
    name = "<lambdifygenerated-test>"
    linecache.cache.pop(name, None)
    assert linecache.cache[name] == (0, None, [], name)
    assert name not in linecache.cache
    assert linecache.getlines(name) == []
    linecache.checkcache()
