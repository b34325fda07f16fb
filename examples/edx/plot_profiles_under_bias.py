"""
EDX profiles across a solar cell before and after bias
======================================================

A simulated STEM-EDX map of a perovskite solar-cell cross-section (ITO /
SnO2 / perovskite / Spiro-OMeTAD / Au, as in “Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”) before and after 300 s
at 1 V forward bias: the device geometry is found from the element maps,
iodide profiles with Poisson error bars are compared, the iodide piled up at
the cathode-side interface is measured and fitted, and Pb-rich clusters are
detected in the X/Pb ratio maps.
"""

import matplotlib.pyplot as plt
import numpy as np

from hyperspy_perovskite.data.device_simulation import simulate_device_eds

s, truth = simulate_device_eds(times=[0.0, 300.0], seed=0)
print(s)
print(s.bias_condition)

# %%
# Find the stack direction and the interfaces from the element maps
# ------------------------------------------------------------------
layers = [name for name, _ in truth["layers"]]
geom = s.find_device_geometry(
    4, xray_lines=["In_La", "Sn_La", "Pb_La", "Au_La"], layers=layers
)
print(f"confidence of the automatic geometry: {geom.confidence:.2f}")
for name, pos, std in zip(
    geom.interface_names, geom.interface_positions, geom.interface_std, strict=True
):
    true = truth["interfaces"][name] - geom.start[0]
    print(f"{name:25s} found {pos:6.1f} +- {std:.1f} nm   true {true:6.1f} nm")

# %%
# Iodide across the stack, pristine and biased
# --------------------------------------------
ref = "SnO2/perovskite"
iodide = s.get_element_profiles(["I_La"], reference=ref, check_overlaps=False)[0]
x = iodide.axes_manager.signal_axes[0].axis
err = np.sqrt(iodide.metadata.Signal.Noise_properties.variance.data)
fig, ax = plt.subplots()
for k, label in enumerate(["pristine", "300 s at 1 V"]):
    ax.errorbar(x, iodide.data[k], err[k], label=label)
ax.set(xlabel=f"Distance from {ref} (nm)", ylabel="I La counts")
ax.legend()

# %%
# How much iodide sits within 40 nm of the cathode-side interface?
# ----------------------------------------------------------------
frac = s.get_accumulated_fraction("I_La", ref, 40.0, side="right", layer="perovskite")
sd = np.sqrt(frac.metadata.Signal.Noise_properties.variance.data)
print("fraction within 40 nm:", np.round(frac.data, 4), "+/-", np.round(sd, 4))

fit = s.fit_accumulation("I_La", ref, "perovskite", field=truth["field"])
lam = fit["decay_length"]
print(
    f"decay length {lam.value[-1]:.1f} +/- {lam.std[-1]:.1f} nm "
    f"(truth {truth['decay_length']:.1f} nm), Einstein ratio "
    f"{fit['einstein_ratio'].value[-1]:.2f}"
)

# %%
# X/Pb ratio maps and Pb-rich clusters
# ------------------------------------
kf = truth["k_factors"]
ratio = s.get_halide_ratio_map(kf, ["I_La", "Br_Ka"])
clusters = s.find_pb_clusters(kf, ["I_La", "Br_Ka"])
fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
for k, ax in enumerate(axs):
    ax.imshow(ratio.data[k], vmin=0, vmax=6)
    ax.contour(clusters["labels"].data[k] > 0, levels=[0.5], colors="r")
    ax.set_title(f"{int(clusters['count'][k])} Pb-rich clusters")
for c in clusters["clusters"][1]:
    print(
        f"cluster at x={c['x']:.0f} nm, {c['equivalent_radius']:.0f} nm radius, "
        f"{c['distance_to_interface']:.0f} nm from the nearest interface"
    )
plt.show()
