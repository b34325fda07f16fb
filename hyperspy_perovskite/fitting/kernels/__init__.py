"""Compiled kernels of HyperSpy's own components (Offset, Gaussian, ...).

The kernels of this suite's components live beside the components, in
:mod:`hyperspy_perovskite.components`; every kernel follows the contract of
:mod:`hyperspy_perovskite.fitting.registry` and joins the engine through
:func:`hyperspy_perovskite.fitting.register_kernel`.
"""
