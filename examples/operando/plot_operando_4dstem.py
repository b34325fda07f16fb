"""
Strain and lead at the interfaces of a nanoLED under constant current
=====================================================================

"Multimodal electron microscopy of halide perovskite interfacial dynamics"
(Nature, 2026): operando 4D-STEM of a MEMS-biased perovskite LED shows a
pre-existing strain at the emitter/transport-layer interfaces, strain that
grows under bias, metallic Pb forming near the interface and a rising
resistance. This example simulates such a series (PEDOT:PSS / CsPbBr2Cl /
TPBi / Al cross-section, nano-beam patterns with Poisson noise and scan
drift), analyses it in one pass and compares with the simulation's truth.
"""

import matplotlib.pyplot as plt
import numpy as np

from hyperspy_perovskite.data.operando_4dstem_simulation import (
    simulate_operando_4dstem,
)

# %%
# Six scans of 12 x 40 positions (1 nm steps), 64 x 64 pixel patterns; the
# constant current (10 nA) is switched on at 45 s.
s, truth = simulate_operando_4dstem(n_time=6, scan_shape=(12, 40), pattern_size=64)
print(s)

# %%
# One pass over the patterns: direct beam and spots fitted in every pattern,
# strain against the middle of the emitter, Pb rings, ADF drift, interface
# bands of 3 nm.
res = s.analyse(phases=("Pb",))
print(res.validity)
print(res.interface_strain)

# %%
# Strain at the emitter/TPBi interface against the truth of the simulation:
# the pristine pre-strain and the part the bias added.
tab = res.interface_strain
rows = [i for i, n in enumerate(tab["interface"]) if n == "CsPbBr2Cl/TPBi"]
t = np.asarray(tab["time"])[rows]
step = truth["step"]["exx"]
true = step[0] + step[1] * np.where(t > 45, 1 - np.exp(-(t - 45) / 60), 0)
fig, ax = plt.subplots(figsize=(5, 3.2), dpi=150)
ax.errorbar(
    t,
    100 * np.asarray(tab["exx"])[rows],
    100 * np.asarray(tab.std["exx"])[rows],
    fmt="o",
    capsize=2,
    label="measured",
)
ax.plot(t, 100 * true, "k--", label="simulation truth")
ax.axvline(45, color="0.5", ls=":", label="current on")
ax.set_xlabel("Time (s)")
ax.set_ylabel("e_xx at CsPbBr2Cl/TPBi (%)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Strain maps of the last scan (NaN where no valid lattice fit: the
# amorphous layers and Al).
exx = res.strain["exx"].inav[-1]
exx.plot(cmap="RdBu_r", vmin=-0.02, vmax=0.02, scalebar=True, colorbar=True)

# %%
# The timeline: resistance from the current set-point and the measured
# voltage, strain at the interfaces and the Pb fraction near them.
res.plot_timeline()
print(res.onsets)
print(f"first Pb nucleus in the simulation: {truth['pb_onset']:.0f} s")
