"""Compiled functions handed to the solver by their machine address.

The solver (:func:`~._levenberg_marquardt.fit_block`) takes the model's
``evaluate`` and the sandwich's function as first-class functions. Passed as
numba dispatchers, each call of the solver converts both to function
pointers in Python (numba looks up the compile result and asks LLVM for the
address of its C wrapper, twice per function): about 0.12 ms per call of
the solver (measured on 2 cores: 144-188 us per call with no pixel to fit,
39 us with the addresses below), paid once per block of spectra. Objects of
numba's wrapper address protocol (numba's documentation, "First-class
function types": an object with ``__wrapper_address__()`` and
``signature()``) carry the address, looked up once per function and
signature. The compiled code called is the same (its C wrapper); only the
conversion at the solver's entry is skipped.
"""

from __future__ import annotations

import threading

from numba.core.types.function_type import WrapperAddressProtocol

__all__ = ["by_address"]


class _Address(WrapperAddressProtocol):
    """The C wrapper's address of ``dispatcher``'s compiled ``signature``
    (the dispatcher is kept: its code stays loaded)."""

    def __init__(self, dispatcher, function_type):
        from numba.experimental.function_type import _get_wrapper_address

        self.dispatcher = dispatcher
        self._signature = function_type.signature
        self._address = _get_wrapper_address(dispatcher, self._signature)

    def __wrapper_address__(self):
        return self._address

    def signature(self):
        return self._signature


_ADDRESSES: dict = {}
_LOCK = threading.Lock()


def by_address(dispatcher, function_type):
    """``dispatcher`` as a first-class function of ``function_type`` that
    the solver takes without converting it (:class:`_Address`), made once.

    Falls back to ``dispatcher`` itself (numba converts it at each call, or
    raises its own error there) whenever the address cannot be had: not a
    compiled function, no compiled version of that signature, another numba.

    Examples
    --------
    >>> from numba import njit, types
    >>> from hyperspy_perovskite.fitting._addresses import by_address
    >>> twice = njit("float64(float64)")(lambda v: 2.0 * v)
    >>> ftype = types.FunctionType(types.float64(types.float64))
    >>> f = by_address(twice, ftype)
    >>> call = njit(lambda g, v: g(v))
    >>> call(f, 3.0), f is by_address(twice, ftype)
    (6.0, True)
    """
    key = (dispatcher, function_type)
    found = _ADDRESSES.get(key)
    if found is None:
        with _LOCK:
            found = _ADDRESSES.get(key)
            if found is None:
                try:
                    found = _Address(dispatcher, function_type)
                except Exception:  # noqa: BLE001 (numba converts it per call)
                    found = dispatcher  # (e.g. compilation disabled, no overload)
                _ADDRESSES[key] = found
    return found
