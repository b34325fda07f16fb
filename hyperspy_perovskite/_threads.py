"""Rows of an in-memory array processed on one thread per core.

For passes over spectra whose work releases the GIL (compiled ``nogil``
functions, NumPy ufuncs); lazy data reach them one dask block at a time.
"""

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["on_threads"]

#: Fewest rows (spectra) per block: below this a thread costs more than it saves.
MIN_ROWS = 256


def on_threads(run, n_rows, *, blocks_per_thread=4, max_rows=None, num_workers=None):
    """Call ``run(rows)`` for consecutive slices ``rows`` covering ``n_rows``.

    The rows are cut into about ``blocks_per_thread`` blocks per thread (so
    that a slow block does not leave a core idle), of at least
    :data:`MIN_ROWS` rows and at most ``max_rows``, and run on ``num_workers`` threads (default: one
    per core). One block runs in the calling thread.

    Parameters
    ----------
    run : callable
        Called once per block with a ``slice`` of rows; its return value is
        ignored (write results into preallocated arrays).
    n_rows : int
        Number of rows.
    blocks_per_thread : int
        Blocks per thread when there are enough rows.
    max_rows : int, optional
        Largest block (bounds the memory of a block's work arrays).
    num_workers : int, optional
        Threads; ``None`` is ``os.cpu_count()``.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite._threads import on_threads
    >>> x = np.arange(1000.0)
    >>> out = np.empty_like(x)
    >>> def double(rows):
    ...     np.multiply(x[rows], 2.0, out=out[rows])
    >>> on_threads(double, x.size)
    >>> bool((out == 2 * x).all())
    True
    """
    threads = thread_count(num_workers)
    size = -(-int(n_rows) // (blocks_per_thread * threads))
    if max_rows is not None:
        size = min(size, int(max_rows))
    size = max(MIN_ROWS, size)
    blocks = [slice(i, min(n_rows, i + size)) for i in range(0, n_rows, size)]
    if threads <= 1 or len(blocks) <= 1 or getattr(_INSIDE, "block", False):
        for rows in blocks:
            run(rows)
        return

    futures = [submit(threads, run, rows) for rows in blocks]
    try:
        for future in futures:
            future.result()
    finally:  # after an error, the blocks not started are not run
        for future in futures:
            future.cancel()


def thread_count(num_workers=None):
    """Threads to run on: ``num_workers``, or one per core by default.

    Examples
    --------
    >>> import os
    >>> from hyperspy_perovskite._threads import thread_count
    >>> thread_count(3), thread_count() == (os.cpu_count() or 1)
    (3, True)
    """
    return int(num_workers) if num_workers else (os.cpu_count() or 1)


def submit(threads, fn, *args):
    """``fn(*args)`` on the kept pool of ``threads`` threads (:func:`_pool`),
    as a block of :func:`on_threads`; a :class:`~concurrent.futures.Future`.
    Called from inside such a block, it runs at once on that thread (a kept
    thread never waits for the others: no deadlock).

    Examples
    --------
    >>> from hyperspy_perovskite._threads import submit
    >>> submit(2, divmod, 7, 2).result()
    (3, 1)
    """
    if getattr(_INSIDE, "block", False):
        future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as error:  # raised where the result is read
            future.set_exception(error)
        return future
    return _pool(threads).submit(_as_block, fn, *args)


def _as_block(fn, *args):
    _INSIDE.block = True
    try:
        return fn(*args)
    finally:
        _INSIDE.block = False


_INSIDE = threading.local()  # .block: this thread runs a block of on_threads
_POOLS: dict = {}  # threads -> ThreadPoolExecutor


def _pool(threads):
    """The kept pool of ``threads`` threads (made on first use; a forked
    child makes its own, as the parent's threads are not in it)."""
    pool = _POOLS.get(threads)
    if pool is None:
        pool = ThreadPoolExecutor(threads, thread_name_prefix="on_threads")
        pool = _POOLS.setdefault(threads, pool)
    return pool


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOLS.clear)
