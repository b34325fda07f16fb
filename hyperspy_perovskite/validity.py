"""One validity model for every fitted or derived map of the suite.

A :class:`Validity` says, pixel by pixel, whether a result can be trusted and,
where it cannot, why. It is built from ALL the parameters of a fit
(:func:`validity_from_fit`): convergence, parameters at a bound, amplitudes
that are not significant, values outside their physical range, and the
goodness of fit. Maps are NaN outside it by default (:meth:`Validity.apply`),
so colour scales and histograms show only trustworthy pixels, and the mask
travels with the result in ``metadata.Validity`` through ``.hspy``/``.zspy``.

Layout in metadata (see the metadata page of the user guide)::

    metadata.Validity
    ├── mask            bool array, True where valid
    ├── reasons         uint32 array of bit flags, 0 where valid
    ├── reason_names    list of str, bit i means reason_names[i]
    └── Criteria        the thresholds used (n_sigma, bounds, ranges, ...)

Examples
--------
>>> import numpy as np
>>> from hyperspy_perovskite.validity import validity_from_fit
>>> values = {"A": np.array([10.0, 0.5, 8.0]), "sigma": np.array([2.0, 2.0, 9.0])}
>>> std = {"A": np.array([1.0, 1.0, 1.0]), "sigma": np.array([0.1, 0.1, 0.1])}
>>> v = validity_from_fit(values, std, significant=["A"], n_sigma=3,
...                       ranges={"sigma": (0.5, 5.0)})
>>> v.mask.tolist(), v.explain(1), v.explain(2)
([True, False, False], ['A not significant'], ['sigma out of range'])
"""

from __future__ import annotations

import contextlib
import json

import numpy as np

__all__ = ["Validity", "validity_from_fit", "apply_validity", "compute_validity"]

_NODE = "Validity"


class Validity:
    """Per-pixel validity of a result, with the reason for every rejection.

    Parameters
    ----------
    mask : array-like of bool
        True where the result is valid.
    reasons : array-like of int, optional
        Bit flags (0 where valid); bit ``i`` means ``reason_names[i]``.
    reason_names : sequence of str, optional
    criteria : dict, optional
        The thresholds used, kept for provenance.
    """

    def __init__(self, mask, reasons=None, reason_names=(), criteria=None):
        self.mask = _as_array(mask, bool)
        if reasons is None:
            reasons = _where(self.mask, 0, 1).astype(np.uint32)
            reason_names = tuple(reason_names) or ("invalid",)
        self.reasons = _as_array(reasons, np.uint32)
        if self.reasons.shape != self.mask.shape:
            raise ValueError(
                f"reasons {self.reasons.shape} and mask {self.mask.shape} differ."
            )
        self.reason_names = tuple(str(r) for r in reason_names)
        self.criteria = dict(criteria or {})

    # -- laziness ------------------------------------------------------------
    @property
    def lazy(self):
        """True when the mask and reasons are dask arrays (a lazy result's)."""
        return _is_dask(self.mask) or _is_dask(self.reasons)

    def compute(self, **kwargs):
        """An eager copy: mask and reasons computed in ONE dask pass.

        ``kwargs`` go to :func:`dask.compute` (e.g. ``scheduler``,
        ``num_workers``). An eager validity is returned as it is.

        Examples
        --------
        >>> import dask.array as da
        >>> from hyperspy_perovskite.validity import Validity
        >>> v = Validity(da.from_array([True, False]))
        >>> v.lazy, v.compute().mask.tolist()
        (True, [True, False])
        """
        if not self.lazy:
            return self
        import dask

        mask, reasons = dask.compute(self.mask, self.reasons, **kwargs)
        return Validity(mask, reasons, self.reason_names, self.criteria)

    def _eager(self):
        return self.compute() if self.lazy else self

    def __getitem__(self, index):
        """The validity of a slice of the result (numpy indexing)."""
        return Validity(
            self.mask[index], self.reasons[index], self.reason_names, self.criteria
        )

    # -- summaries ---------------------------------------------------------
    @property
    def fraction(self):
        """Fraction of valid pixels (0 for an empty mask); computes a lazy one."""
        mask = self._eager().mask
        return float(mask.mean()) if mask.size else 0.0

    def counts(self):
        """Number of pixels rejected for each reason (a pixel may have several)."""
        reasons = self._eager().reasons
        return {
            name: int(np.count_nonzero(reasons & np.uint32(1 << i)))
            for i, name in enumerate(self.reason_names)
        }

    def explain(self, index):
        """The reasons a pixel (flat or tuple index) was rejected."""
        reasons = self.reasons
        code = int(
            reasons[index] if isinstance(index, tuple) else reasons.ravel()[index]
        )
        return [n for i, n in enumerate(self.reason_names) if code & (1 << i)]

    def rejected(self):
        """``{reason: bool array}`` of the reasons that reject any pixel.

        The comparable content of a validity: independent of the order of
        ``reason_names`` and of names that reject nothing (a lazy validity
        keeps every possible reason, an eager one only those that apply).
        """
        v = self._eager()
        out = {}
        for i, name in enumerate(v.reason_names):
            hit = (v.reasons & np.uint32(1 << i)) != 0
            if hit.any():
                out[name] = hit
        return out

    def __repr__(self):
        if self.lazy:
            return (
                f"<Validity {self.mask.shape}: lazy, {len(self.reason_names)} reasons>"
            )
        return (
            f"<Validity {self.mask.shape}: {100 * self.fraction:.1f} % valid"
            + "".join(f", {k}: {v}" for k, v in self.counts().items() if v)
            + ">"
        )

    # -- use -----------------------------------------------------------------
    def apply(self, values, keep_invalid=False):
        """``values`` with NaN where not valid (a float copy; dask stays lazy).

        ``values`` has the mask's shape, optionally with trailing dimensions.
        A lazy mask or lazy values give a lazy result.
        """
        if keep_invalid:
            return values
        mask = self.mask.reshape(
            self.mask.shape + (1,) * (values.ndim - self.mask.ndim)
        )
        if _is_dask(values) or _is_dask(mask):
            import dask.array as da

            return da.where(mask, values.astype(float), np.nan)
        return np.where(mask, np.asarray(values, dtype=float), np.nan)

    def __and__(self, other):
        if self.mask.shape != other.mask.shape:
            raise ValueError("Validities of different shapes cannot be combined.")
        names = list(self.reason_names)
        remap = []
        for name in other.reason_names:
            if name not in names:
                names.append(name)
            remap.append(names.index(name))
        if len(names) > 32:
            raise ValueError("More than 32 distinct rejection reasons.")
        reasons = self.reasons
        for i, j in enumerate(remap):
            bit = (other.reasons >> np.uint32(i)) & np.uint32(1)
            reasons = reasons | (bit << np.uint32(j)).astype(np.uint32)
        return Validity(
            self.mask & other.mask, reasons, names, {**self.criteria, **other.criteria}
        )

    # -- persistence -----------------------------------------------------------
    def to_metadata(self, metadata):
        """Store under ``metadata.Validity`` (survives .hspy and .zspy).

        A lazy validity is stored lazily, as HyperSpy keeps a lazy noise
        variance: the dask arrays are written chunk by chunk when the result
        is saved, come back as dask arrays with ``hs.load(..., lazy=True)``
        and as numpy arrays otherwise. :func:`compute_validity` (or
        :meth:`compute`) evaluates them.
        """
        metadata.set_item(f"{_NODE}.mask", self.mask)
        metadata.set_item(f"{_NODE}.reasons", self.reasons)
        metadata.set_item(f"{_NODE}.reason_names", list(self.reason_names))
        metadata.set_item(
            f"{_NODE}.criteria", json.dumps(self.criteria, default=_jsonable)
        )

    @classmethod
    def from_metadata(cls, metadata):
        """Read ``metadata.Validity``; None if there is none (lazy if stored so)."""
        if not metadata.has_item(f"{_NODE}.mask"):
            return None
        node = metadata.get_item(_NODE)
        criteria = node.get_item("criteria", "{}")
        reasons = node.get_item("reasons", None)
        return cls(
            node.mask,
            _where(_as_array(node.mask, bool), 0, 1) if reasons is None else reasons,
            list(node.get_item("reason_names", [])),
            json.loads(criteria) if isinstance(criteria, str) else dict(criteria),
        )


def _is_dask(a):
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - dask is a dependency
        return False
    return isinstance(a, da.Array)


def _as_array(a, dtype):
    """A numpy array, or a dask array kept lazy, of ``dtype``."""
    if _is_dask(a):
        return a.astype(dtype)
    return np.asarray(a, dtype=dtype)


def _where(cond, x, y):
    if _is_dask(cond):
        import dask.array as da

        return da.where(cond, x, y)
    return np.where(cond, x, y)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _finite(a):
    return np.isfinite(_as_array(a, float))


def validity_from_fit(
    values,
    std=None,
    *,
    converged=None,
    bounds=None,
    significant=(),
    n_sigma=3.0,
    ranges=None,
    reduced_chisq=None,
    max_reduced_chisq=None,
    bound_tolerance=1e-6,
):
    """Validity of a fitted map from all its parameters.

    Parameters
    ----------
    values : dict of str to array
        Fitted value of every parameter, all of one (navigation) shape.
    std : dict of str to array, optional
        Standard errors; a parameter without one is judged only on its value.
    converged : array of bool, optional
        The fit's own convergence per pixel.
    bounds : dict of str to (float or None, float or None), optional
        Fit bounds; a value within ``bound_tolerance`` (relative to the bound
        interval, or absolute for a one-sided bound) of a bound is rejected:
        the optimum was not found inside the allowed region.
    significant : sequence of str
        Parameters (amplitudes, areas) that must exceed ``n_sigma`` times
        their std in absolute value.
    n_sigma : float
        Significance threshold, in standard deviations.
    ranges : dict of str to (float or None, float or None), optional
        Physical ranges (e.g. a width not below the spectral resolution).
    reduced_chisq : array, optional
        Reduced chi-squared per pixel.
    max_reduced_chisq : float, optional
        Reject pixels above it (the caller decides: with Poisson weights a
        value far above 1 means the model does not describe the data).

    Returns
    -------
    Validity
        With reasons ``"not converged"``, ``"<p> not finite"``, ``"<p> at
        bound"``, ``"<p> not significant"``, ``"<p> out of range"``,
        ``"chi-squared"`` as they apply.
    """
    std = std or {}
    bounds = bounds or {}
    ranges = ranges or {}
    lazy = any(
        _is_dask(x) for x in (*values.values(), *std.values(), converged, reduced_chisq)
    )
    shape = np.shape(next(iter(values.values())))
    tests = []  # (name, rejected-bool-array)
    if converged is not None:
        tests.append(("not converged", ~_as_array(converged, bool)))
    for name, v in values.items():
        bad = ~_finite(v)
        if name in std:
            bad = bad | ~_finite(std[name])
        tests.append((f"{name} not finite", bad))
    for name, (lo, hi) in bounds.items():
        tests.append(
            (f"{name} at bound", _at_bound(values[name], lo, hi, bound_tolerance))
        )
    for name in significant:
        v = _as_array(values[name], float)
        s = _as_array(std[name], float) if name in std else np.nan
        with np.errstate(invalid="ignore"):
            tests.append((f"{name} not significant", ~(abs(v) > n_sigma * s)))
    for name, (lo, hi) in ranges.items():
        v = _as_array(values[name], float)
        with np.errstate(invalid="ignore"):
            out = v < -np.inf  # all False, with the laziness of v
            if lo is not None:
                out = out | (v < lo)
            if hi is not None:
                out = out | (v > hi)
        tests.append((f"{name} out of range", out))
    if reduced_chisq is not None and max_reduced_chisq is not None:
        r = _as_array(reduced_chisq, float)
        with np.errstate(invalid="ignore"):
            tests.append(("chi-squared", ~(r <= max_reduced_chisq)))
    # a lazy validity keeps every reason (which ones fire is known only when
    # computed); an eager one only those that reject a pixel
    tests = [
        (n, _broadcast(b, shape)) for n, b in tests if lazy or np.any(np.asarray(b))
    ]
    if len(tests) > 32:
        raise ValueError("More than 32 distinct rejection reasons.")
    reasons = np.zeros(shape, np.uint32)
    if lazy:
        import dask.array as da

        reasons = da.zeros(shape, dtype=np.uint32)
    for i, (_, bad) in enumerate(tests):
        reasons = reasons | (_as_array(bad, np.uint32) << np.uint32(i))
    criteria = {
        "n_sigma": float(n_sigma),
        "significant": list(significant),
        "bounds": {k: list(b) for k, b in bounds.items()},
        "ranges": {k: list(r) for k, r in ranges.items()},
        "max_reduced_chisq": max_reduced_chisq,
    }
    return Validity(reasons == 0, reasons, [n for n, _ in tests], criteria)


def _broadcast(a, shape):
    if _is_dask(a):
        import dask.array as da

        return da.broadcast_to(a, shape)
    return np.broadcast_to(a, shape)


def _at_bound(value, lo, hi, tol):
    v = _as_array(value, float)
    out = v < -np.inf  # all False, with the laziness of v
    span = (hi - lo) if (lo is not None and hi is not None) else None
    with np.errstate(invalid="ignore"):
        if lo is not None:
            eps = tol * (span if span else max(abs(lo), 1.0))
            out = out | (v <= lo + eps)
        if hi is not None:
            eps = tol * (span if span else max(abs(hi), 1.0))
            out = out | (v >= hi - eps)
    return out


def apply_validity(signal, validity, keep_invalid=False):
    """A copy of ``signal`` NaN outside ``validity``, which it then carries.

    ``validity.mask`` has the shape of the signal's data (or of its leading
    dimensions). The input is not modified.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.validity import Validity, apply_validity
    >>> s = hs.signals.Signal2D(np.ones((2, 2)))
    >>> out = apply_validity(s, Validity([[True, False], [True, True]]))
    >>> int(np.isnan(out.data).sum()), Validity.from_metadata(out.metadata).fraction
    (1, 0.75)
    """
    if not signal._lazy:
        validity = validity.compute()  # an eager result carries an eager mask
    out = (
        signal.deepcopy()
        if not signal._lazy
        else signal._deepcopy_with_new_data(signal.data)
    )
    out.data = validity.apply(out.data, keep_invalid=keep_invalid)
    validity.to_metadata(out.metadata)
    return out


def compute_validity(signal, *, show_progressbar=None, **kwargs):
    """Compute a lazy signal and every lazy validity it stores, in ONE pass.

    HyperSpy's :meth:`~hyperspy._signals.lazy.LazySignal.compute` evaluates
    the data only and leaves lazy arrays in metadata as they are (like a lazy
    noise variance); a lazy result's ``metadata.Validity`` (and any
    ``<Node>.Validity`` below it) then stays lazy and is computed when read.
    This function evaluates the data and the masks together, sharing the
    graph they come from (the work upstream is done once), and stores the
    computed masks. Also for an eager signal whose validity is still lazy
    (e.g. after ``s.compute()``).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        Changed in place (like ``compute``); returns None.
    show_progressbar : bool, optional
        HyperSpy's preference when None.
    **kwargs
        For :func:`dask.compute` (``scheduler``, ``num_workers``).

    Examples
    --------
    >>> import dask.array as da, hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.validity import Validity, compute_validity
    >>> raw = da.from_array(np.array([1.0, -1.0, 2.0]))
    >>> s = hs.signals.Signal1D(da.where(raw > 0, raw, np.nan)).as_lazy()
    >>> Validity(raw > 0).to_metadata(s.metadata)
    >>> compute_validity(s, show_progressbar=False)
    >>> s._lazy, Validity.from_metadata(s.metadata).mask.tolist()
    (False, [True, False, True])
    """
    import dask
    from hyperspy.defaults_parser import preferences

    nodes, found = [], []
    for path in _validity_nodes(signal.metadata):
        v = Validity.from_metadata(_node(signal.metadata, path))
        if v.lazy:
            nodes.append(path)
            found.append(v)
    arrays = [signal.data] + [a for v in found for a in (v.mask, v.reasons)]
    if show_progressbar is None:
        show_progressbar = preferences.General.show_progressbar
    bar = contextlib.nullcontext()
    if show_progressbar and any(_is_dask(a) for a in arrays):
        from dask.diagnostics import ProgressBar

        bar = ProgressBar()
    with bar:
        data, *masks = dask.compute(*arrays, **kwargs)
    if signal._lazy:
        signal.data = data
        signal._lazy = False
        signal._assign_subclass()
    for k, (path, v) in enumerate(zip(nodes, found, strict=True)):
        Validity(
            masks[2 * k], masks[2 * k + 1], v.reason_names, v.criteria
        ).to_metadata(_node(signal.metadata, path))


def _node(metadata, path):
    return metadata.get_item(path) if path else metadata


def _validity_nodes(metadata, prefix="", depth=0):
    """Paths of the nodes holding a ``Validity`` ("" for the top)."""
    out = [prefix] if metadata.has_item(f"{_NODE}.mask") else []
    if depth > 4:
        return out
    from hyperspy.misc.utils import DictionaryTreeBrowser

    for key in metadata.keys():
        value = metadata.get_item(key)
        if key != _NODE and isinstance(value, DictionaryTreeBrowser):
            path = f"{prefix}.{key}" if prefix else key
            out += _validity_nodes(value, path, depth + 1)
    return out
