"""Where the blocks of spectra of :func:`~.engine.fast_multifit` are fitted.

The unit of work is one function on one block of spectra, whatever runs it:
dask (``map_blocks``) for lazy data or under a dask.distributed client, else
a pool of threads over views of the in-memory arrays (the same blocks,
without importing dask, so that the first fit of a session starts faster).
"""

from __future__ import annotations

import sys

import numpy as np

from hyperspy_perovskite._threads import thread_count

__all__ = ["run_blocks"]


def _block_rows(nav_shape, n_pix, chunk_pixels):
    """Rows of the first navigation axis per block.

    Blocks of at most ``chunk_pixels`` spectra, and enough blocks (4 per
    core, of at least 256 spectra) to keep every core busy.
    """
    per_core = -(-n_pix // (4 * thread_count()))
    rows = max(1, min(int(chunk_pixels), max(256, per_core)))
    inner = int(np.prod(nav_shape[1:])) if len(nav_shape) > 1 else 1
    return max(1, rows // max(inner, 1))


def _data_chunks(data, nav_shape, n_pix, chunk_pixels):
    """The data as dask: navigation chunks, one chunk along the signal."""
    import dask.array as da

    from hyperspy_perovskite._dask import dask_view

    if isinstance(data, da.Array):
        return data.rechunk(data.chunks[:-1] + (-1,)) if nav_shape else data
    first = _block_rows(nav_shape, n_pix, chunk_pixels)
    chunks = (first,) + tuple(-1 for _ in nav_shape[1:]) + (-1,)
    return dask_view(data, chunks)


def _distributed_client():
    """True when a dask.distributed client is active (never imports dask)."""
    if "distributed" not in sys.modules:  # no client can exist before
        return False
    try:
        from distributed import default_client

        default_client()
        return True
    except (ImportError, ValueError):
        return False


def run_blocks(
    func, signal, variance, P0, mask, desc, chunk_pixels, progress, workers, extra=0
):
    """Fit every block; ``(n_pixels, n_out)`` results (``extra`` columns
    after the solver's ``2 n_p + 3``).

    The unit of work is ``func`` on one block of spectra, whatever runs it:
    dask (``map_blocks``) for lazy data or under a dask.distributed client,
    else a pool of threads over views of the in-memory arrays (the same
    blocks, without importing dask: a first fit in a new session starts
    faster).
    """
    nav_shape = tuple(signal.data.shape[:-1])
    n_pix = int(np.prod(nav_shape)) if nav_shape else 1
    n_out = 2 * desc.n_parameters + 3 + extra
    if not nav_shape:
        var_1 = np.asarray(variance) if isinstance(variance, np.ndarray) else variance
        out = func(
            np.asarray(signal.data)[None], var_1, P0, np.asarray(mask).reshape(1)
        )
        return np.asarray(out).reshape(n_pix, n_out)
    P0 = P0.reshape(nav_shape + (desc.n_parameters,))
    eager = isinstance(signal.data, np.ndarray) and not isinstance(
        variance, (list, tuple)
    )
    if eager and not _distributed_client() and not _is_dask(variance):
        out = _run_threads(
            func, signal.data, variance, P0, mask, n_pix, chunk_pixels, progress,
            workers,
        )  # fmt: skip
        return out.reshape(n_pix, n_out)
    return _run_dask(func, signal, variance, P0, mask, n_pix, n_out, chunk_pixels,
                     progress, workers)  # fmt: skip


def _is_dask(array):
    return type(array).__module__.startswith("dask")


def _run_threads(
    func, data, variance, P0, mask, n_pix, chunk_pixels, progress, workers
):
    """``func`` on blocks of in-memory arrays, on the package's kept threads
    (:func:`~hyperspy_perovskite._threads.submit`: no thread started per
    call, which waits for the new thread to be scheduled, up to several ms
    on a loaded machine).

    The blocks are ranges of pixels in memory order with equal numbers of
    pixels to fit (:func:`_balanced_blocks`), so that a pass over a few
    scattered pixels (second starts, refits) is shared evenly, and small
    enough that the threads run out of work together.
    """
    from hyperspy_perovskite._threads import submit

    n_threads = thread_count(workers)
    flat = _flat_views(data, variance, P0, mask, n_pix)
    if flat is None:  # pixels not in one memory order: blocks of rows
        rows = _block_rows(data.shape[:-1], n_pix, chunk_pixels)
        cuts = [slice(i0, i0 + rows) for i0 in range(0, data.shape[0], rows)]
    else:
        data, variance, P0, mask = flat
        cuts = _balanced_blocks(mask, n_threads, chunk_pixels)

    def block(sl):
        var = variance[sl] if isinstance(variance, np.ndarray) else variance
        return func(data[sl], var, P0[sl], mask[sl])

    if n_threads <= 1 or len(cuts) == 1:
        results = [block(sl) for sl in cuts]
    else:
        futures = [submit(n_threads, block, sl) for sl in cuts]
        _wait_with_progress(futures, progress)
        results = [f.result() for f in futures]
    return np.concatenate([r.reshape(-1, r.shape[-1]) for r in results])


#: Each block takes 1 / (GUIDED_FACTOR x threads) of the pixels left to fit,
GUIDED_FACTOR = 2
#: and at most 1 / (LARGEST_SHARE x threads) of the pass's (costly pixels
#: may be side by side in a map: no block holds a large part of them).
LARGEST_SHARE = 8
#: Fewest pixels to fit per block (each block costs about 75 us of set-up).
MIN_BLOCK_PIXELS = 16


def _flat_views(data, variance, P0, mask, n_pix):
    """``(data, variance, P0, mask)`` with one navigation axis, as views;
    None when the data's pixels cannot be viewed in one memory order."""
    data = view_as(data, (n_pix, data.shape[-1]))
    if data is None:
        return None
    if isinstance(variance, np.ndarray):
        variance = view_as(variance, data.shape)
        if variance is None:
            return None
    return data, variance, P0.reshape(n_pix, -1), np.asarray(mask).reshape(n_pix)


def view_as(array, shape):
    """``array`` reshaped to ``shape`` as a view, or None where that needs a
    copy (any NumPy: ``reshape``'s ``copy`` keyword is NumPy 2.1's).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 6))
    >>> view_as(a, (24,)).base is a, view_as(a[:, :3], (12,)) is None
    (True, True)
    """
    try:
        return np.reshape(array, shape, copy=False)
    except ValueError:
        return None
    except TypeError:  # NumPy < 2.1
        view = array.view()
        try:
            view.shape = shape
        except AttributeError:
            return None
        return view


def _balanced_blocks(mask, n_threads, chunk_pixels):
    """Slices of consecutive pixels, each with a share of the unmasked ones.

    Guided self-scheduling (C. D. Polychronopoulos and D. J. Kuck, IEEE
    Trans. Comput. C-36, 1425 (1987)), with the factor of factoring (S. F.
    Hummel, E. Schonberg and L. E. Flynn, Commun. ACM 35(8), 90 (1992)):
    each block holds ``1 / (GUIDED_FACTOR x n_threads)`` of the pixels still
    to fit and at most ``1 / (LARGEST_SHARE x n_threads)`` of the pass's, but
    at least :data:`MIN_BLOCK_PIXELS`; never more than ``chunk_pixels``.
    The threads take the blocks in order as they finish the previous ones:
    few blocks (each costs a set-up), and the last ones small, so that the
    threads run out of work together.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.ones(1000, bool)  # True: not fitted
    >>> mask[500:] = False
    >>> [int(np.count_nonzero(~mask[b])) for b in _balanced_blocks(mask, 2, 8192)]
    [32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 29, 22, 17, 16, 16, 16]
    >>> _balanced_blocks(mask, 2, 8192)[:2]
    [slice(0, 532, None), slice(532, 564, None)]
    """
    todo = np.flatnonzero(~mask)
    n = mask.size
    if todo.size == 0:
        return [slice(0, n)]
    threads = max(int(n_threads), 1)
    share = GUIDED_FACTOR * threads
    cap = -(-todo.size // (LARGEST_SHARE * threads))
    firsts, left = [], todo.size
    while left > 0:
        size = min(
            int(chunk_pixels), max(MIN_BLOCK_PIXELS, min(cap, -(-left // share)))
        )
        left -= size
        if left > 0:
            firsts.append(int(todo[todo.size - left]))
    edges = [0, *firsts, n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _wait_with_progress(futures, show_progressbar):
    """Wait for ``futures``; a progress bar after one second when asked."""
    from concurrent.futures import as_completed

    from hyperspy.defaults_parser import preferences

    if show_progressbar is None:
        show_progressbar = preferences.General.show_progressbar
    if not show_progressbar:
        return
    from hyperspy.external.progressbar import progressbar

    with progressbar(total=len(futures), delay=1.0, desc="fast_multifit") as bar:
        for _ in as_completed(futures):
            bar.update(1)


def _run_dask(func, signal, variance, P0, mask, n_pix, n_out, chunk_pixels,
              progress, workers):  # fmt: skip
    """``func`` on every block through one dask graph (``map_blocks``)."""
    import dask.array as da

    from hyperspy_perovskite._dask import dask_view

    nav_shape = tuple(signal.data.shape[:-1])
    data = _data_chunks(signal.data, nav_shape, n_pix, chunk_pixels)
    nav_chunks = data.chunks[:-1]
    p0 = da.from_array(P0, chunks=nav_chunks + (-1,), name=False)
    # trailing length-1 axis: map_blocks aligns arrays on their last axes
    mask_d = da.from_array(mask[..., None], chunks=nav_chunks + (1,), name=False)
    if isinstance(variance, np.ndarray):
        var_d = dask_view(variance, data.chunks)
    elif isinstance(variance, da.Array):
        var_d = variance.rechunk(data.chunks)
    else:
        var_d = variance
    out_d = da.map_blocks(
        func, data, var_d, p0, mask_d, dtype=np.float64, chunks=nav_chunks + ((n_out,),)
    )
    return np.asarray(_compute(out_d, progress, workers)).reshape(n_pix, n_out)


def _compute(out_d, show_progressbar, num_workers):
    import dask
    import dask.threaded
    from hyperspy.defaults_parser import preferences

    if show_progressbar is None:
        show_progressbar = preferences.General.show_progressbar
    kwargs = {}
    distributed = _distributed_client()
    if not distributed:
        # the threaded scheduler itself: naming it "threads" makes dask import
        # distributed to look for a client (over a second on a first call)
        kwargs["scheduler"] = dask.threaded.get
        if num_workers is not None:
            kwargs["num_workers"] = int(num_workers)
    if show_progressbar and not distributed:
        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=1.0):
            return dask.compute(out_d, **kwargs)[0]
    return dask.compute(out_d, **kwargs)[0]
