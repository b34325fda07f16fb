"""Spectral-axis handling of CL/PL spectrum images: unit normalisation, a
decreasing axis made increasing, and the wavelength-to-energy conversion with
its Jacobian (the bodies of ``normalize_spectral_axis`` and ``to_eV``).

The signal's spectral axis is validated by the caller
(``signal._spectral_kind()``) before these functions run.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from hyperspy_perovskite._threads import on_threads
from hyperspy_perovskite.analysis.cl_units import check_monotonic
from hyperspy_perovskite.units_arguments import parse_range

__all__ = ["convert_to_eV", "converted", "normalize_axis", "small_pages", "window"]


def _ascending(s, inplace):
    """``s`` with its decreasing spectral axis made increasing."""
    flipped = s.isig[::-1]
    if not inplace:
        return flipped
    ax = s.axes_manager.signal_axes[0]
    index = ax.index_in_axes_manager
    var = s.metadata.get_item("Signal.Noise_properties.variance")
    s.data = flipped.data
    s.axes_manager.set_axis(flipped.axes_manager.signal_axes[0], index)
    if var is not None and hasattr(var, "isig"):
        s.set_noise_variance(flipped.metadata.Signal.Noise_properties.variance)
    return s


def normalize_axis(signal, inplace):
    """The axis in nm or eV, increasing (see ``normalize_spectral_axis``)."""
    canonical, kind, factor = signal._spectral_kind()
    s = (
        signal
        if inplace
        else signal._deepcopy_with_new_data(signal.data, copy_variance=True)
    )
    if check_monotonic(s.axes_manager.signal_axes[0].axis) < 0:
        s = _ascending(s, inplace)
    ax = s.axes_manager.signal_axes[0]
    target = "nm" if kind == "wavelength" else "eV"
    if factor != 1.0:
        if ax.is_uniform:
            ax.offset = ax.offset * factor
            ax.scale = ax.scale * factor
        else:
            ax.axis = np.asarray(ax.axis, dtype=float) * factor
    ax.units = target
    return None if inplace else s


def convert_to_eV(signal, inplace, jacobian):
    """Wavelength axis to photon energy with the Jacobian (see ``to_eV``)."""
    return converted(signal, inplace, jacobian)[0]


def converted(signal, inplace, jacobian, overwrite=False):
    """``(signal on photon energy, Jacobian per channel)``: the body of
    :func:`convert_to_eV`, with LumiSpy's Jacobian ``dlambda/dE`` per
    energy channel (float64; the converted spectrum of a spectrum of ones,
    whatever ``jacobian``). No copy of the metadata or the data beyond the
    one converted array (none of them when ``inplace``). ``overwrite``
    (with ``inplace``): the signal's in-memory data are its own, converted
    in their own array when the dtype allows (no new array)."""
    from lumispy.utils.axes import axis2eV, data2eV, var2eV

    ax = signal.axes_manager.signal_axes[0]
    if inplace:
        signal.normalize_spectral_axis(inplace=True)
        s = signal
    elif check_monotonic(ax.axis) > 0 and ax.units == "nm":
        s = signal  # already what normalize_spectral_axis makes: not copied
    else:
        s = signal.normalize_spectral_axis(inplace=False)
    ax0 = s.axes_manager.signal_axes[0]
    evaxis, jfactor = axis2eV(ax0)
    data = s.data[..., ::-1]  # the signal axis is the last of the array
    dtype = data.dtype
    if dtype.kind != "f" or dtype.itemsize < 4:
        dtype = np.dtype(np.float32)  # float16 overflows in the Jacobian
    jac = data2eV(np.ones(data.shape[-1]), jfactor, evaxis.axis, ax0)
    if jacobian:  # LumiSpy's Jacobian per channel once, then one product
        own = inplace and overwrite and isinstance(s.data, np.ndarray)
        out = s.data if own and s.data.dtype == dtype else None
        data = _times(data, jac.astype(dtype), dtype, out=out)
    elif not s._lazy:
        data = np.array(data, dtype=dtype)
    else:
        data = data.astype(dtype)
    var = s.metadata.get_item("Signal.Noise_properties.variance")
    new_var = None
    if var is not None:
        vdata = var.data[..., ::-1] if hasattr(var, "isig") else None
        if jacobian:
            if vdata is None:
                vdata = np.full(data.shape, float(var))
            new_var = var2eV(vdata, jfactor, evaxis.axis, ax0)
        elif vdata is not None:  # not shared with this signal's variance
            new_var = vdata.copy() if s is signal and not inplace else vdata
    axind = ax0.index_in_axes_manager
    if inplace:
        out = signal
        out.data = data
    else:
        out = s._deepcopy_with_new_data(data, copy_variance=False)
    out.axes_manager.set_axis(evaxis, axind)
    if new_var is not None:
        vs = out._deepcopy_with_new_data(new_var, copy_variance=False)
        out.set_noise_variance(vs)
        if jacobian:
            out._reset_variance_linear_model()
    elif var is not None and not inplace:
        out.set_noise_variance(var)
    return (None if inplace else out), np.asarray(jac, dtype=float)


def _times(data, factor, dtype, out=None):
    """``data.astype(dtype) * factor`` (``factor`` of ``dtype``, per
    channel): lazy for dask data; for numpy data one pass, in blocks of
    spectra on one thread per core (NumPy releases the GIL), with the same
    rounding (the data are cast to ``dtype`` before the product), into
    ``out`` when given (of ``dtype``; it may be ``data``'s own memory, e.g.
    ``data`` its channels reversed: NumPy then buffers each block).

    Measured and not kept (session 15, bench_cl_fit's 128 x 128 x 1024
    float64 map, load 1.9): the product fused with the spike screen
    (``spike_rows``), each 64 spectra screened and then converted while in
    cache, one pass over the map instead of two: 114 -> 106 ms of CPU, 62
    -> 58 ms wall, the same values; not worth a second path through
    ``prepare_signal`` (and none where a spike is found). Session 16: the
    pages of each block mapped (``_populated``'s advice) just before its
    product, in one pass instead of two (the pages still in cache when
    written): 73.8-97.9 against 73.9-85.4 ms of CPU, no gain."""
    if not isinstance(data, np.ndarray):
        return data.astype(dtype) * factor
    if out is None:
        out = _empty_small_pages(data.shape, dtype)
    flat_in = data.reshape(-1, data.shape[-1])  # a view, or a copy if strided
    flat_out = out.reshape(-1, data.shape[-1])
    on_threads(_product(flat_in, factor, flat_out, dtype), flat_in.shape[0])
    return out


#: Spectra per block of the product of reversed channels (:func:`_product`).
_REVERSED_BLOCK = 32


def _product(flat_in, factor, flat_out, dtype):
    """The function of rows that writes ``flat_in[rows] * factor`` (cast
    to ``dtype`` first) into ``flat_out[rows]``, for :func:`_times`.

    Where ``flat_in`` is read backwards (``to_eV``'s channels reversed,
    ``factor`` one value per channel), each :data:`_REVERSED_BLOCK`
    spectra are multiplied forwards by the reversed factor into a work
    block, which is copied reversed into ``flat_out`` while in the cache:
    the same products of the same numbers. Session 16 measured a reversed
    read at 2.5 times a contiguous one (3.7 against 1.45 ms per 2048
    spectra of 1024 float64 channels) and this way 2.84 ms. A block is
    read whole before it is written, so ``flat_out`` may be ``flat_in``'s
    own memory.
    """
    n = flat_in.shape[-1]
    if flat_in.strides[-1] >= 0 or np.ndim(factor) != 1 or n < 2:

        def run(rows):
            np.multiply(flat_in[rows], factor, out=flat_out[rows], dtype=dtype,
                        casting="unsafe")  # fmt: skip

        return run
    forward = flat_in[:, ::-1]
    backward = np.ascontiguousarray(np.asarray(factor)[::-1])

    def run_reversed(rows):
        work = np.empty((_REVERSED_BLOCK, n), dtype)
        for i in range(rows.start, rows.stop, _REVERSED_BLOCK):
            j = min(i + _REVERSED_BLOCK, rows.stop)
            np.multiply(forward[i:j], backward, out=work[: j - i], dtype=dtype,
                        casting="unsafe")  # fmt: skip
            flat_out[i:j] = work[: j - i, ::-1]

    return run_reversed


def _empty_small_pages(shape, dtype):
    """``np.empty(shape, dtype)`` without NumPy's transparent-huge-page
    advice (:func:`small_pages`), its pages mapped (:func:`_populated`).

    Measured here on the 128 MB converted map of bench_cl_fit (2-core
    machine, 4 processes each): 310-320 ms of CPU for the first array of a
    process with the advice, 72-87 ms without it (33-44 ms for the next
    ones with it); the map is converted once per fit, so without.
    """
    with small_pages():
        out = np.empty(shape, dtype=dtype)
    return _populated(out)


_SWITCH_LOCK = threading.Lock()
_SWITCH_HELD = [0, None]  # [open small_pages contexts, the switch before them]


def _hugepage_switch():
    """NumPy's process-wide setter of its huge-page advice, or None."""
    core = getattr(np, "_core", None) or np.core
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


@contextlib.contextmanager
def small_pages():
    """NumPy's transparent-huge-page advice off while the context is open.

    NumPy asks the kernel for 2 MB pages for every array of 4 MB or more
    (``madvise(MADV_HUGEPAGE)``). Where the kernel's huge pages are
    ``madvise`` only and their ``defrag`` is ``madvise`` (a common
    default; this machine's), the first touch of such an array waits for
    the kernel to find or compact a free 2 MB page. ``fit_emission``
    makes its work arrays (the counts check's sample, the binned map, the
    engine's maps) inside this context: they are made once per fit and read
    a spectrum at a time, so larger pages save little and their first
    touch costs much. Session 17, outside (bench_cl_fit's 128 x 128 x 1024
    map, 2 cores, load 2-4, medians of 4 processes): a process's first
    full-map fit took 3.07 s of CPU and the later ones 2.84 s (the counts
    check 92 ms of CPU on its first call, 24 ms after; the binned pass
    +54 ms); with the advice off for the whole process
    (``NUMPY_MADVISE_HUGEPAGE=0``) 2.69 and 2.70 s.

    The switch is process-wide, so NumPy's other threads get small pages
    too while a fit runs (their values are the same; only the page size
    differs). Contexts may nest and overlap across threads: the first to
    open turns the advice off, the last to close sets it back to what it
    was before the first.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspy_perovskite.signals._cl_axes import small_pages
    >>> with small_pages():
    ...     a = np.empty((1024, 1024))  # 8 MB, on 4 kB pages
    >>> a.shape
    (1024, 1024)
    """
    switch = _hugepage_switch()
    if switch is None:
        yield
        return
    with _SWITCH_LOCK:
        if _SWITCH_HELD[0] == 0:
            _SWITCH_HELD[1] = switch(False)
        _SWITCH_HELD[0] += 1
    try:
        yield
    finally:
        with _SWITCH_LOCK:
            _SWITCH_HELD[0] -= 1
            if _SWITCH_HELD[0] == 0:
                switch(_SWITCH_HELD[1])


#: ``madvise`` advice that maps the pages of a range writable now (Linux
#: 5.14, ``<linux/mman.h>``).
_MADV_POPULATE_WRITE = 23
_PAGE = 4096


def _populated(a):
    """``a`` (a fresh array), its pages mapped before it is written.

    The first write to each 4 kB page of a fresh array traps into the
    kernel, which maps a zeroed page: for the 128 MB converted map of
    bench_cl_fit 32768 traps, about 55 ms of CPU. ``madvise(...,
    MADV_POPULATE_WRITE)`` maps them in one call per thread's share of the
    array (:func:`~hyperspy_perovskite._threads.on_threads`, one block per
    thread; session 14, idle, 2 cores: 36-39 ms of CPU, the conversion's
    first writes then 5 ms). Arrays below 4 MB, other systems, and kernels
    without the advice (the call fails) are left to the traps: the values
    are the same either way.
    """
    import sys

    if not sys.platform.startswith("linux") or a.nbytes < 1 << 22:
        return a
    madvise = _madvise()
    if madvise is None:
        return a
    start = -(-a.ctypes.data // _PAGE) * _PAGE
    end = (a.ctypes.data + a.nbytes) // _PAGE * _PAGE

    def populate(pages):
        lo = start + pages.start * _PAGE
        madvise(lo, (pages.stop - pages.start) * _PAGE, _MADV_POPULATE_WRITE)

    on_threads(populate, (end - start) // _PAGE, blocks_per_thread=1)
    return a


_MADVISE = []


def _madvise():
    """libc's ``madvise`` through ctypes, or None where it cannot be had."""
    if not _MADVISE:
        import ctypes

        try:
            f = ctypes.CDLL(None).madvise
            f.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            f.restype = ctypes.c_int
        except (OSError, AttributeError, TypeError):
            f = None
        _MADVISE.append(f)
    return _MADVISE[0]


def window(s, window):
    """``(x1, x2)`` of a spectral range clipped to the axis, checked."""
    ax = s.axes_manager.signal_axes[0]
    x1, x2 = parse_range(window, ax.units, name="signal_range")
    lo, hi = sorted((ax.low_value, ax.high_value))
    x1, x2 = sorted((x1, x2))
    if x1 == x2 or x2 < lo or x1 > hi:
        raise ValueError(
            f"signal_range ({x1:g}, {x2:g}) {ax.units} does not overlap the "
            f"spectral axis ({lo:.6g}-{hi:.6g} {ax.units}) or is empty."
        )
    return max(x1, lo), min(x2, hi)
