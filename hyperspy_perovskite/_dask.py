"""Dask helpers shared by the signals and the fitting engine."""

import dask.array as da

__all__ = ["dask_view"]


class _InMemory:
    """Read-only array-like over an in-memory array, without a ``copy`` method.

    ``dask.array.from_array`` copies any array-like that has a ``copy``
    method (dask >= 2025) to guard its graph against later changes of the
    data; for a map or a movie that doubles the memory and can cost more
    than the computation.
    """

    def __init__(self, array):
        self._array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __getitem__(self, key):
        return self._array[key]


def dask_view(array, chunks):
    """A dask array whose chunks are views of ``array`` (no copy, no hashing).

    Use it only when the graph is computed before control returns to the
    user: the chunks read ``array`` when computed, so a later change of it
    would show in the result.

    Parameters
    ----------
    array : numpy.ndarray
    chunks : tuple
        As for :func:`dask.array.from_array`.

    Returns
    -------
    dask.array.Array

    Examples
    --------
    >>> from hyperspy_perovskite._dask import dask_view
    >>> a = np.arange(12.0).reshape(3, 4)
    >>> d = dask_view(a, chunks=(1, -1))
    >>> d.chunks
    ((1, 1, 1), (4,))
    >>> float(d.sum().compute())
    66.0
    """
    return da.from_array(_InMemory(array), chunks=chunks, name=False)
