"""The stimulus record: what was applied to the sample over time.

The metadata layout (``metadata.Stimulus``) is documented in
:mod:`hyperspy_perovskite.stimulus.schema`; readers and time alignment are in
:mod:`hyperspy_perovskite.stimulus.logs` and
:mod:`hyperspy_perovskite.stimulus.align` (both re-exported by
:mod:`hyperspy_perovskite.stimulus.record`); electron dose in
:mod:`hyperspy_perovskite.stimulus.dose`.
"""

from .record import (
    attach_stimulus,
    frame_time_axis,
    read_stimulus,
    stimulus_channels,
)
from .schema import (
    QUANTITIES,
    bias_switch_on_time,
    canonical_unit,
    get_bias_condition,
    get_record,
    has_record,
    set_bias_condition,
    to_canonical,
)

__all__ = [
    "QUANTITIES",
    "attach_stimulus",
    "bias_switch_on_time",
    "canonical_unit",
    "frame_time_axis",
    "get_bias_condition",
    "get_record",
    "has_record",
    "read_stimulus",
    "set_bias_condition",
    "stimulus_channels",
    "to_canonical",
]
