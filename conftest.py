"""Test-session fix shared by the tests and the doctests.

SymPy's ``lambdify`` (HyperSpy builds every Expression component with it)
puts each generated function's source in ``linecache.cache`` and removes
it from a ``weakref.finalize`` callback. Python 3.11's ``linecache`` reads
an entry after checking that it exists (``if name in cache: cache[name]``),
so a garbage collection that fires the callback in between raises
``KeyError: '<lambdifygenerated-N>'`` in whatever is running: a rare,
flaky failure unrelated to the code under test (python/cpython#126775,
sympy/sympy#27232). For the test session only, a missing entry reads as
an empty, uncheckable one, which is what every ``linecache`` caller then
does anyway. The package itself does not patch the standard library.
"""

import linecache


class _EntryTolerantCache(dict):
    """``linecache.cache`` whose vanished entries read as empty sources."""

    def __missing__(self, filename):
        return (0, None, [], filename)


if not isinstance(linecache.cache, _EntryTolerantCache):
    linecache.cache = _EntryTolerantCache(linecache.cache)
