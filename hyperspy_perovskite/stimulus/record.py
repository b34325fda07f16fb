"""The stimulus record: read logs, align them to frame times, attach them.

Split by job into :mod:`hyperspy_perovskite.stimulus.logs` (reading Protochips,
CSV, dict and signal logs into a record in canonical units) and
:mod:`hyperspy_perovskite.stimulus.align` (time offset or trigger, hold or
linear interpolation onto the frame times, attaching to ``metadata.Stimulus``).
This module keeps the public names in one place.

Examples
--------
>>> from hyperspy_perovskite.stimulus.record import attach_stimulus, read_stimulus
>>> rec = read_stimulus({"time": ([0.0, 1.0, 2.0], "s"), "Bias": ([0, 1, 1], "V")})
>>> bias = rec["channels"]["Bias"]
>>> bias["quantity"], bias["values_units"], bias["interpolation"]
('voltage', 'V', 'linear')
"""

from .align import (
    attach_stimulus,
    frame_time_axis,
    interpolate_channel,
    stimulus_channels,
)
from .logs import read_stimulus

__all__ = [
    "attach_stimulus",
    "frame_time_axis",
    "interpolate_channel",
    "read_stimulus",
    "stimulus_channels",
]
