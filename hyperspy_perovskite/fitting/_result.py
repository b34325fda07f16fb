"""The result of :func:`~hyperspy_perovskite.fitting.fast_multifit`: flags,
chi-squared and iterations per pixel, as HyperSpy navigation signals made
when first read (the fit itself only needs their arrays)."""

from __future__ import annotations

import numpy as np

from hyperspy_perovskite.fitting import flags as F

__all__ = ["FastFitResult"]


#: The per-pixel maps of a :class:`FastFitResult` and their titles.
_RESULT_MAPS = {
    "convergence": "fit convergence flags",
    "chisq": "chi-squared",
    "reduced_chisq": "reduced chi-squared",
    "iterations": "fit iterations",
}


class _ResultMap:
    """A result map as a HyperSpy navigation signal, made on first access.

    Holds the navigation-shaped array (and, in the result, the fitted
    signal's navigation axes, not the signal); a fit whose caller only
    reads the arrays (:meth:`FastFitResult.array`) creates no HyperSpy
    signal (a few ms each, four per fit).
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj._maps[self.name]
        if isinstance(value, np.ndarray) and obj._source is not None:
            value = obj._source.signal(value, _RESULT_MAPS[self.name])
            obj._maps[self.name] = value
        return value

    def __set__(self, obj, value):
        obj._maps[self.name] = value


class FastFitResult:
    """What :func:`fast_multifit` measured, besides the filled model.

    Attributes
    ----------
    convergence : hyperspy.signal.BaseSignal
        ``int8`` outcome per navigation pixel (codes in
        :mod:`hyperspy_perovskite.fitting.flags`; 0 = converged).
    chisq, reduced_chisq : hyperspy.signal.BaseSignal
        Weighted chi-squared and chi-squared / (n_channels - n_free) per pixel.
    iterations : hyperspy.signal.BaseSignal
        Levenberg-Marquardt iterations used per pixel.
    n_pixels : int
    elapsed : float
        Wall time of the fit in seconds (model analysis included).

    The four maps are HyperSpy navigation signals of the fitted model's
    signal, made when first read; :meth:`array` gives a map's data without
    making one.
    """

    convergence = _ResultMap()
    chisq = _ResultMap()
    reduced_chisq = _ResultMap()
    iterations = _ResultMap()

    def __init__(
        self,
        convergence,
        chisq,
        reduced_chisq,
        iterations,
        n_pixels,
        elapsed,
        flag_counts=None,
        model=None,
    ):
        # maps: signals, or navigation-shaped arrays of ``model``'s signal
        self._source = None if model is None else _Navigation(model.signal)
        self._maps = {}
        self.convergence, self.chisq = convergence, chisq
        self.reduced_chisq, self.iterations = reduced_chisq, iterations
        self.n_pixels, self.elapsed = n_pixels, elapsed
        self.flag_counts = {} if flag_counts is None else flag_counts

    def array(self, name):
        """The data of the map ``name`` (``"convergence"``, ``"chisq"``,
        ``"reduced_chisq"`` or ``"iterations"``), the array the signal
        holds, without making the signal.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> from hyperspy_perovskite.fitting import fast_multifit
        >>> s, truth = simulated_emission_map(shape=(2, 3), seed=0)
        >>> m = s.create_model()
        >>> m.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
        >>> result = fast_multifit(m, starting_values="estimate")
        >>> result.array("convergence").tolist()
        [[0, 0, 0], [0, 0, 0]]
        >>> result.array("convergence") is result.convergence.data
        True
        """
        if name not in _RESULT_MAPS:
            raise KeyError(f"name must be one of {tuple(_RESULT_MAPS)}, not {name!r}.")
        value = self._maps[name]
        return value if isinstance(value, np.ndarray) else value.data

    def __repr__(self):
        return (
            f"FastFitResult(n_pixels={self.n_pixels}, elapsed={self.elapsed:.3g}, "
            f"flag_counts={self.flag_counts})"
        )

    @property
    def spectra_per_second(self):
        return self.n_pixels / self.elapsed if self.elapsed > 0 else float("inf")

    @property
    def n_converged(self):
        return self.flag_counts.get("converged", 0)

    def summary(self):
        """A JSON-ready dictionary of the fit outcome.

        Examples
        --------
        >>> from hyperspy_perovskite.data import simulated_emission_map
        >>> from hyperspy_perovskite.fitting import fast_multifit
        >>> s, truth = simulated_emission_map(shape=(4, 4), seed=0)
        >>> m = s.create_model()
        >>> m.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
        >>> result = fast_multifit(m, starting_values="estimate")
        >>> result.summary()["flag_counts"]
        {'converged': 16}
        """
        red = np.asarray(self.array("reduced_chisq"), dtype=float)
        ok = np.asarray(self.array("convergence")) == F.CONVERGED
        return {
            "n_pixels": int(self.n_pixels),
            "n_converged": int(self.n_converged),
            "flag_counts": dict(self.flag_counts),
            "elapsed_s": float(self.elapsed),
            "spectra_per_second": float(self.spectra_per_second),
            "median_reduced_chisq": float(np.median(red[ok])) if ok.any() else None,
        }


def _navigation_array(model, data):
    """``data`` shaped as the data of ``model``'s navigation signals."""
    if model.signal.axes_manager.navigation_dimension == 0 and np.shape(data) != (1,):
        data = np.reshape(data, (1,))
    return data


class _Navigation:
    """The navigation axes and title of a signal, to make navigation signals
    of it later without keeping the signal (and its data) alive: what
    HyperSpy's ``signal._get_navigation_signal(data)`` makes."""

    def __init__(self, signal):
        am = signal.axes_manager
        self.dimension = am.navigation_dimension
        self.axes = am._get_navigation_axes_dicts()
        self.title = signal.metadata.General.title

    def signal(self, data, title):
        from hyperspy.signals import BaseSignal, Signal1D, Signal2D

        axes = [dict(a) for a in self.axes]  # HyperSpy may consume them
        if self.dimension == 0:
            sig = BaseSignal(data)
        elif self.dimension == 1:
            sig = Signal1D(data, axes=axes)
        elif self.dimension == 2:
            sig = Signal2D(data, axes=axes)
        else:
            sig = BaseSignal(data, axes=axes).T
        sig.metadata.General.title = f"{self.title} {title}"
        return sig
