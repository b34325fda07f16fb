"""The fitted emission model evaluated at chosen pixels (rows x channels).

Used by the residual statistics (:mod:`~hyperspy_perovskite.signals._cl_statistics`),
the centroid shifts (:mod:`~hyperspy_perovskite.signals._cl_centroid`) and the
model curves of the Urbach resolution test (:mod:`~hyperspy_perovskite.signals._cl_refit`).
"""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite._threads import on_threads

__all__ = ["pixel_model"]


def pixel_model(components, x, flat_index, maps=None):
    """The sum of the active ``components`` (a model, or some of its
    components) at the pixels ``flat_index`` on channels ``x`` (rows x
    channels).

    The components are added in their order. A component evaluated by the
    package's own NumPy form (``_stable``: the exponentially modified
    Gaussians of the Urbach tail and the asymmetric band, NumPy and SciPy
    ufuncs, which release the GIL) is evaluated in blocks of rows on one
    thread per core (:func:`~hyperspy_perovskite._threads.on_threads`);
    the values are those of one call, element by element. Forms lambdified
    for numexpr stay on the calling thread. Session 15, bench_cl_fit's
    map: the Urbach tail was about 60 % of the model curves of the Urbach
    resolution test (36 ms on one thread). The numexpr forms (the
    Gaussian bands) already run on numexpr's own threads (2731 pixels x 256
    channels: 5.7 ms wall, 10.5 ms of CPU), so they are not split.

    Parameters
    ----------
    components : iterable of hyperspy components
    x : numpy.ndarray, shape (n,)
    flat_index : numpy.ndarray of int
        Flat navigation indices of the pixels.
    maps : dict, optional
        ``{parameter: map}``: maps read instead of the parameters' own
        (e.g. a snapshot's copies); the others are read from the parameters.

    Returns
    -------
    numpy.ndarray, shape (len(flat_index), n)

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> from hyperspy_perovskite.signals._cl_curves import pixel_model
    >>> s = hs.signals.Signal1D(np.zeros((2, 5)))
    >>> m = s.create_model()
    >>> m.append(hs.model.components1D.Offset())
    >>> m[0].offset.map["values"][:] = [1.0, 2.0]
    >>> pixel_model(m, np.arange(5.0), np.array([1])).tolist()
    [[2.0, 2.0, 2.0, 2.0, 2.0]]
    """
    total = np.zeros((len(flat_index), x.size))
    for c in components:
        if not c.active:
            continue
        names = sorted(p.name for p in c.parameters)
        f = getattr(c, "_f", None)
        if f is None and names != ["offset"]:  # pragma: no cover - emission only
            raise TypeError(f"Cannot evaluate {type(c).__name__} over a map.")
        params = [getattr(c, n) for n in names]
        values = [(maps or {}).get(p, p.map)["values"] for p in params]
        values = [np.asarray(v, float).reshape(-1) for v in values]

        def add(rows, f=f, values=values):
            at = [v[flat_index[rows]][:, None] for v in values]
            part = total[rows]  # a view
            if f is None:  # HyperSpy's Offset
                part += at[0]
            else:  # Expression: parameters in alphabetical order
                part += np.broadcast_to(f(x[None, :], *at), part.shape)

        if f is not None and f is getattr(c, "_stable", None):
            on_threads(add, len(flat_index))
        else:
            add(slice(None))
    return total
