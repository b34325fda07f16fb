"""Array algorithms of EDX under bias (no HyperSpy signal objects).

:mod:`~hyperspy_perovskite.analysis.eds.quantify`: Cliff-Lorimer and zeta
quantification of line intensities with propagated Poisson variances and
absorption; the signal methods of
:class:`~hyperspy_perovskite.signals.eds_biased.EDSTEMBiasedSpectrum`
validate their inputs, call these and wrap the results.
"""
