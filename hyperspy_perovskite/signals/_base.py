"""The one resolver of the common options and the one way results are wrapped.

Every method of the suite's signals that computes something takes the options
of HyperSpy's :meth:`~hyperspy.signal.BaseSignal.map` (``inplace``,
``lazy_output``, ``show_progressbar``, ``num_workers``) with the same meaning
and the same docstring text, resolves them here, does its work on a numpy or
dask array (one code path), and wraps the answer here.

- :func:`resolve_options` checks and fills the options.
- :func:`compute` evaluates a dask array only when an eager output is wanted,
  with a progress bar only when there is work to show (never for numpy input).
- :func:`as_requested` makes a finished result signal lazy or eager as asked.
- :func:`wrap_navigation_map` turns a per-pixel array into a HyperSpy signal
  whose axes are the source's navigation axes, with title, quantity and units.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np
from hyperspy.docstrings.signal import (
    LAZY_OUTPUT_ARG,
    NUM_WORKERS_ARG,
    SHOW_PROGRESSBAR_ARG,
)

__all__ = [
    "OPTIONS_PARAMETERS",
    "Options",
    "resolve_options",
    "compute",
    "as_requested",
    "wrap_navigation_map",
]

_INPLACE_ARG = """inplace : bool
            If ``True``, the signal is modified and ``None`` is returned;
            otherwise (default) a new signal is returned and the input is left
            untouched. Cannot be combined with ``lazy_output=True``."""


#: numpydoc entries of the common options (HyperSpy's own text), for methods'
#: docstrings: ``OPTIONS_PARAMETERS["lazy_output"]`` etc.
#: They are indented for a method's docstring, as HyperSpy's templates are.
OPTIONS_PARAMETERS = {
    "inplace": _INPLACE_ARG,
    "lazy_output": LAZY_OUTPUT_ARG,
    "show_progressbar": SHOW_PROGRESSBAR_ARG,
    "num_workers": NUM_WORKERS_ARG,
}


@dataclass(frozen=True)
class Options:
    """The resolved common options of a method.

    Attributes
    ----------
    inplace : bool
    lazy_output : bool
        Always a bool once resolved.
    show_progressbar : bool
        Always a bool once resolved (HyperSpy's preference when not given).
    num_workers : int or None
    """

    inplace: bool = False
    lazy_output: bool = False
    show_progressbar: bool = False
    num_workers: int | None = None

    @property
    def compute_kwargs(self):
        """Keyword arguments for ``dask.compute``."""
        return {} if self.num_workers is None else {"num_workers": self.num_workers}


def resolve_options(
    signal, *, inplace=False, lazy_output=None, show_progressbar=None, num_workers=None
):
    """Check and fill the common options the way ``BaseSignal.map`` does.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        The signal the method is called on (decides ``lazy_output=None``).
    inplace, lazy_output, show_progressbar, num_workers
        As given by the user; see :data:`OPTIONS_PARAMETERS`.

    Returns
    -------
    Options

    Raises
    ------
    ValueError
        For ``lazy_output=True`` with ``inplace=True`` or a non-positive
        ``num_workers``.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.signals._base import resolve_options
    >>> s = hs.signals.Signal1D(np.zeros((2, 8))).as_lazy()
    >>> resolve_options(s).lazy_output
    True
    """
    if lazy_output and inplace:
        raise ValueError(
            "lazy_output=True and inplace=True cannot be combined: an in-place "
            "result takes the laziness of the signal itself."
        )
    if lazy_output is None:
        lazy_output = bool(getattr(signal, "_lazy", False))
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = bool(preferences.General.show_progressbar)
    if num_workers is not None:
        if int(num_workers) != num_workers or num_workers < 1:
            raise ValueError(
                f"num_workers must be a positive integer, got {num_workers!r}."
            )
        num_workers = int(num_workers)
    return Options(
        bool(inplace), bool(lazy_output), bool(show_progressbar), num_workers
    )


def compute(array, options):
    """Evaluate ``array`` unless the options ask for a lazy output.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
    options : Options

    Returns
    -------
    numpy.ndarray or dask.array.Array
        A dask array stays lazy when ``options.lazy_output``; a numpy array is
        returned as it is (made lazy only when a lazy output is asked for),
        without a progress bar: there is nothing left to compute.

    Examples
    --------
    >>> import dask.array as da
    >>> from hyperspy_perovskite.signals._base import Options, compute
    >>> compute(da.ones(4) * 2, Options()).tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    if options.lazy_output:
        return array if isinstance(array, da.Array) else da.from_array(array)
    if not isinstance(array, da.Array):
        return array
    if options.show_progressbar:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return array.compute(**options.compute_kwargs)
    return array.compute(**options.compute_kwargs)


def as_requested(result, options):
    """Return a finished result signal lazy or eager, as the options ask.

    Eager results of lazy computations are computed (with a progress bar if
    asked) together with any lazy validity they carry, in one dask pass
    (:func:`~hyperspy_perovskite.validity.compute_validity`); eager results
    wanted lazy are wrapped without computing anything.
    """
    from hyperspy_perovskite.validity import compute_validity

    if options.lazy_output and not result._lazy:
        return result.as_lazy()
    if not options.lazy_output and result._lazy:
        compute_validity(
            result, show_progressbar=options.show_progressbar, **options.compute_kwargs
        )
    return result


def wrap_navigation_map(
    data, source, *, title, quantity, units, options, validity=None, keep_invalid=False
):
    """Wrap a per-pixel result as a signal on ``source``'s navigation axes.

    Parameters
    ----------
    data : numpy.ndarray or dask.array.Array
        Array of navigation shape (HyperSpy order, as
        ``source.axes_manager.navigation_shape[::-1]``), optionally with
        trailing signal dimensions.
    source : hyperspy.signal.BaseSignal
        The signal whose navigation axes become the result's axes.
    title, quantity, units : str
        ``metadata.General.title``, ``metadata.Signal.quantity`` (HyperSpy's
        ``"name (units)"`` form is built from these).
    options : Options
    validity : hyperspy_perovskite.validity.Validity, optional
        Stored with the result; values outside it are NaN unless
        ``keep_invalid``.
    keep_invalid : bool
        Keep raw values where the validity mask is False.

    Returns
    -------
    hyperspy.signal.BaseSignal
        ``Signal2D`` for a 2D map, ``Signal1D`` for a 1D profile or series,
        lazy when ``options.lazy_output``.

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np
    >>> from hyperspy_perovskite.signals._base import Options, wrap_navigation_map
    >>> s = hs.signals.Signal1D(np.zeros((4, 5, 16)))
    >>> m = wrap_navigation_map(np.ones((4, 5)), s, title="Centre",
    ...                         quantity="Centre", units="eV", options=Options())
    >>> m.axes_manager.signal_shape, m.metadata.Signal.quantity
    ((5, 4), 'Centre (eV)')
    """
    import hyperspy.api as hs

    nav_axes = [ax.get_axis_dictionary() for ax in source.axes_manager.navigation_axes]
    nav_axes = nav_axes[::-1]  # array order
    for ax in nav_axes:
        ax["navigate"] = False
    extra = data.ndim - len(nav_axes)
    if extra < 0 or tuple(data.shape[: len(nav_axes)]) != tuple(
        ax_size(a) for a in nav_axes
    ):
        raise ValueError(
            f"Result of shape {data.shape} does not start with the navigation "
            f"shape {source.axes_manager.navigation_shape[::-1]} of the source."
        )
    for size in data.shape[len(nav_axes) :]:
        nav_axes.append({"size": size, "navigate": False})
    if validity is not None and not keep_invalid:
        data = validity.apply(data)
    cls = {1: hs.signals.Signal1D, 2: hs.signals.Signal2D}.get(
        len(nav_axes), hs.signals.BaseSignal
    )
    if len(nav_axes) == 0:
        cls = hs.signals.BaseSignal
    lazy = isinstance(data, da.Array)
    result = cls(data, axes=nav_axes) if nav_axes else cls(np.atleast_1d(data))
    if lazy:
        result = result.as_lazy()
    result.metadata.General.title = title
    result.metadata.set_item(
        "Signal.quantity", f"{quantity} ({units})" if units else quantity
    )
    if validity is not None:
        validity.to_metadata(result.metadata)
    return as_requested(result, options)


def ax_size(axis_dict):
    """Size of an axis from its dictionary (uniform or not)."""
    if "size" in axis_dict:
        return axis_dict["size"]
    return len(axis_dict["axis"])
