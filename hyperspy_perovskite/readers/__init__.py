"""Readers of the instrument exports that HyperSpy/RosettaSciIO do not read.

:mod:`.jv_text`: J-V sweeps from source-measure units and potentiostats.
"""

from hyperspy_perovskite.readers.jv_text import jv_curve, read_jv_text

__all__ = ["jv_curve", "read_jv_text"]
