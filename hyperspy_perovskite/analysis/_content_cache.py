"""A small cache of results keyed by the content of their inputs.

For expensive fits that several methods run on the same inputs (the SAED
whole-series halo fit): the key is a digest of every input, arrays by their
bytes, so a change of any input is a new entry; nothing goes stale. Values
are deep-copied in and out, so a caller that changes a result in place does
not change the kept one.
"""

import copy
import hashlib
from collections import OrderedDict

import numpy as np

__all__ = ["ContentCache", "digest"]


def digest(*values):
    """A digest of arrays and scalars (None included), by content.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis._content_cache import digest
    >>> digest(np.arange(3.0), None, 2) == digest(np.arange(3.0), None, 2)
    True
    >>> digest(np.arange(3.0)) == digest(np.arange(3.0) + 1e-12)
    False
    """
    h = hashlib.blake2b(digest_size=20)
    for v in values:
        if v is None or np.isscalar(v):
            h.update(repr(v).encode())
        else:
            a = np.ascontiguousarray(v)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        h.update(b"|")
    return h.hexdigest()


class ContentCache:
    """The ``size`` most recently used results, by :func:`digest` key.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis._content_cache import ContentCache, digest
    >>> c = ContentCache(2)
    >>> c.put(digest(1), {"x": [1]})
    >>> c.get(digest(1)), c.get(digest(2))
    ({'x': [1]}, None)
    """

    def __init__(self, size):
        self.size = int(size)
        self._items = OrderedDict()

    def get(self, key):
        """A copy of the result kept under ``key``, or None."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return copy.deepcopy(self._items[key])

    def put(self, key, value):
        """Keep a copy of ``value`` (the least recently used goes first)."""
        self._items[key] = copy.deepcopy(value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self):
        """Forget everything."""
        self._items.clear()

    def __len__(self):
        return len(self._items)
