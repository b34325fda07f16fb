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

import json

import numpy as np

__all__ = ["Validity", "validity_from_fit", "apply_validity"]

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
        self.mask = np.asarray(mask, dtype=bool)
        if reasons is None:
            reasons = np.where(self.mask, 0, 1).astype(np.uint32)
            reason_names = tuple(reason_names) or ("invalid",)
        self.reasons = np.asarray(reasons, dtype=np.uint32)
        if self.reasons.shape != self.mask.shape:
            raise ValueError(
                f"reasons {self.reasons.shape} and mask {self.mask.shape} differ."
            )
        self.reason_names = tuple(str(r) for r in reason_names)
        self.criteria = dict(criteria or {})

    # -- summaries ---------------------------------------------------------
    @property
    def fraction(self):
        """Fraction of valid pixels (0 for an empty mask)."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    def counts(self):
        """Number of pixels rejected for each reason (a pixel may have several)."""
        return {
            name: int(np.count_nonzero(self.reasons & np.uint32(1 << i)))
            for i, name in enumerate(self.reason_names)
        }

    def explain(self, index):
        """The reasons a pixel (flat or tuple index) was rejected."""
        code = int(
            self.reasons[index]
            if isinstance(index, tuple)
            else self.reasons.ravel()[index]
        )
        return [n for i, n in enumerate(self.reason_names) if code & (1 << i)]

    def __repr__(self):
        return (
            f"<Validity {self.mask.shape}: {100 * self.fraction:.1f} % valid"
            + "".join(f", {k}: {v}" for k, v in self.counts().items() if v)
            + ">"
        )

    # -- use -----------------------------------------------------------------
    def apply(self, values, keep_invalid=False):
        """``values`` with NaN where not valid (a float copy; dask stays lazy).

        ``values`` has the mask's shape, optionally with trailing dimensions.
        """
        if keep_invalid:
            return values
        mask = self.mask.reshape(
            self.mask.shape + (1,) * (values.ndim - self.mask.ndim)
        )
        try:
            import dask.array as da

            if isinstance(values, da.Array):
                return da.where(mask, values.astype(float), np.nan)
        except ImportError:  # pragma: no cover - dask is a dependency
            pass
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
        reasons = self.reasons.copy()
        for i, j in enumerate(remap):
            hit = (other.reasons & np.uint32(1 << i)) != 0
            reasons[hit] |= np.uint32(1 << j)
        return Validity(
            self.mask & other.mask, reasons, names, {**self.criteria, **other.criteria}
        )

    # -- persistence -----------------------------------------------------------
    def to_metadata(self, metadata):
        """Store under ``metadata.Validity`` (survives .hspy and .zspy)."""
        metadata.set_item(f"{_NODE}.mask", self.mask)
        metadata.set_item(f"{_NODE}.reasons", self.reasons)
        metadata.set_item(f"{_NODE}.reason_names", list(self.reason_names))
        metadata.set_item(
            f"{_NODE}.criteria", json.dumps(self.criteria, default=_jsonable)
        )

    @classmethod
    def from_metadata(cls, metadata):
        """Read ``metadata.Validity``; None if there is none."""
        if not metadata.has_item(f"{_NODE}.mask"):
            return None
        node = metadata.get_item(_NODE)
        criteria = node.get_item("criteria", "{}")
        return cls(
            np.asarray(node.mask, dtype=bool),
            np.asarray(
                node.get_item("reasons", np.zeros(np.shape(node.mask))), dtype=np.uint32
            ),
            list(node.get_item("reason_names", [])),
            json.loads(criteria) if isinstance(criteria, str) else dict(criteria),
        )


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _finite(a):
    return np.isfinite(np.asarray(a, dtype=float))


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
    shape = np.shape(next(iter(values.values())))
    tests = []  # (name, rejected-bool-array)
    if converged is not None:
        tests.append(("not converged", ~np.asarray(converged, dtype=bool)))
    for name, v in values.items():
        v = np.asarray(v, dtype=float)
        bad = ~_finite(v)
        if name in std:
            bad |= ~_finite(std[name])
        tests.append((f"{name} not finite", bad))
    for name, (lo, hi) in bounds.items():
        tests.append(
            (f"{name} at bound", _at_bound(values[name], lo, hi, bound_tolerance))
        )
    for name in significant:
        v, s = np.asarray(values[name], float), np.asarray(std.get(name, np.nan), float)
        with np.errstate(invalid="ignore"):
            tests.append((f"{name} not significant", ~(np.abs(v) > n_sigma * s)))
    for name, (lo, hi) in ranges.items():
        v = np.asarray(values[name], float)
        with np.errstate(invalid="ignore"):
            out = np.zeros(shape, bool)
            if lo is not None:
                out |= v < lo
            if hi is not None:
                out |= v > hi
        tests.append((f"{name} out of range", out))
    if reduced_chisq is not None and max_reduced_chisq is not None:
        r = np.asarray(reduced_chisq, float)
        with np.errstate(invalid="ignore"):
            tests.append(("chi-squared", ~(r <= max_reduced_chisq)))
    tests = [(n, np.broadcast_to(b, shape)) for n, b in tests if np.any(b)]
    if len(tests) > 32:
        raise ValueError("More than 32 distinct rejection reasons.")
    reasons = np.zeros(shape, np.uint32)
    for i, (_, bad) in enumerate(tests):
        reasons[bad] |= np.uint32(1 << i)
    criteria = {
        "n_sigma": float(n_sigma),
        "significant": list(significant),
        "bounds": {k: list(b) for k, b in bounds.items()},
        "ranges": {k: list(r) for k, r in ranges.items()},
        "max_reduced_chisq": max_reduced_chisq,
    }
    return Validity(reasons == 0, reasons, [n for n, _ in tests], criteria)


def _at_bound(value, lo, hi, tol):
    v = np.asarray(value, float)
    out = np.zeros(v.shape, bool)
    span = (hi - lo) if (lo is not None and hi is not None) else None
    with np.errstate(invalid="ignore"):
        if lo is not None:
            eps = tol * (span if span else max(abs(lo), 1.0))
            out |= v <= lo + eps
        if hi is not None:
            eps = tol * (span if span else max(abs(hi), 1.0))
            out |= v >= hi - eps
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
    out = (
        signal.deepcopy()
        if not signal._lazy
        else signal._deepcopy_with_new_data(signal.data)
    )
    out.data = validity.apply(out.data, keep_invalid=keep_invalid)
    validity.to_metadata(out.metadata)
    return out
