"""
Current under constant bias, its onset and the structure-device link
=====================================================================

During the in situ experiment of "Imaging real-time amorphization of hybrid
perovskite solar cells under electrical biasing" a potentiostat holds the
nano solar cell at 1 V and logs the current (Fig. S2b); the nanoLED of
"Multimodal electron microscopy of halide perovskite interfacial dynamics",
Nature (2026), shows a rising resistance and falling electroluminescence
under constant current. This example turns a simulated current-time log into
conductance vs time, finds the onset of its fall with a profile-likelihood
uncertainty, and puts it beside a structural onset (fringe kinetics) and the
J-V figures of merit before and after, on one time axis.
"""

import numpy as np

from hyperspy_perovskite.analysis.transport.link import StructureDeviceLink
from hyperspy_perovskite.data.jv_simulation import (
    simulate_electrical_log,
    simulate_table_s1,
)
from hyperspy_perovskite.signals.electrical import electrical_log

# %%
# A 300 s log at 1 V; the bias is switched on at 10 s and the conductance
# starts falling at 80 s. Electroluminescence is logged too.
d = simulate_electrical_log(seed=3, onset=80.0, el0=2000.0)
v = np.where(d["time"] < 10.0, 0.0, d["voltage"])
i = np.where(d["time"] < 10.0, 0.0, d["current"])
log = electrical_log(
    {"time": d["time"], "Bias": (v, "V"), "Current": (i * 1e6, "uA")},
    el=(d["time"], d["el"]),
)
print(log.mode, "bias on at", log.bias_on, "s")
print(log.onset_table(quantities=("auto", "el")))

# %%
# The J-V numbers before and after (simulated Table S1 curves: initial and
# aged 16 h, reverse scans), and a structural onset from a kinetics fit
# (here given as value and std in s).
jv = simulate_table_s1(seed=1, noise=0.005,
                       rows=[("open-circuit aging", "initial"),
                             ("open-circuit aging", "aged 16 h")])  # fmt: skip
table = jv.figures_of_merit().to_table()
link = StructureDeviceLink(bias_on=log.bias_on)
link.add_onset("region B", "perovskite (001) fringes", (95.0, 4.0))
link.add_onset("device", "conductance (1 V)", log)
link.add_figures_of_merit("device", "before", table, row=0)
link.add_figures_of_merit("device", "after aging", table, row=2)
print(link.table())

# %%
fig = link.plot(electrical=log)
