"""
Ion migration: drift-diffusion fits, migration metrics and holography
=====================================================================

Under a forward bias, mobile halide ions drift towards a blocking electrode
and pile up there (“Imaging real-time amorphization of hybrid perovskite solar cells under electrical biasing”: iodine accumulates near the cathode after 1 V).
This example simulates an operando series of iodine line scans across a
400 nm perovskite layer with the finite-volume drift-diffusion solver of
:mod:`hyperspy_perovskite.analysis.drift_diffusion`, then

1. measures the redistribution with :mod:`hyperspy_perovskite.analysis.migration`
   (kymograph, fraction accumulated near the electrode, with errors);
2. fits every frame with
   :func:`hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
   (compiled :func:`~hyperspy_perovskite.fitting.fast_multifit`) to recover
   the diffusion coefficient, the mobility and the Einstein relation;
3. fits an interdiffusion profile (Li et al., Nat. Commun. 14, 7612 (2023): iodine diffusing into a glass);
4. turns a phase image of a charged interface into potential, field and
   charge-density profiles (biased holography).
"""

import hyperspy.api as hs
import matplotlib.pyplot as plt
import numpy as np

from hyperspy_perovskite.analysis import drift_diffusion as dd
from hyperspy_perovskite.analysis import holography as holo
from hyperspy_perovskite.analysis import migration as mg
from hyperspy_perovskite.signals.holography import holography_stack_profiles
from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

rng = np.random.default_rng(0)

# %%
# An operando series: 1 V across a 400 nm layer, iodide mobility 1e-16
# m^2/(V s), D from the Einstein relation at 300 K.
L, bias, mu, T = 400.0, 1.0, 1e-16, 300.0
field = bias / (L * 1e-9)
D = dd.einstein_diffusion_coefficient(mu, T)
times = np.array([0.0, 20.0, 50.0, 100.0, 200.0])
z, c = dd.transient_profile_layer(L, times, D, mu * field, n_cells=400)
x = np.arange(0.0, L, 2.0) + 1.0  # 2 nm bins of the line scan
truth = np.array([np.interp(x, z, ci) for ci in c])
counts = rng.poisson(250.0 * truth).astype(float)

series = hs.signals.Signal1D(counts)
series.axes_manager[0].name, series.axes_manager[0].units = "time", "s"
sig_ax = series.axes_manager[-1]
sig_ax.name, sig_ax.units, sig_ax.scale, sig_ax.offset = "position", "nm", 2.0, 1.0

# %%
# Kymograph and accumulated fraction within 20 nm of the cathode.
kymo, kvar = mg.kymograph(counts, reference=0)
frac, fvar = mg.accumulated_fraction(x, counts, 0.0, 20.0, side="right")
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
im = axes[0].imshow(
    kymo[:, :60], aspect="auto", cmap="RdBu_r", extent=(0, 120, times[-1], 0)
)
axes[0].set(xlabel="distance from cathode (nm)", ylabel="frame", title="I kymograph")
fig.colorbar(im, ax=axes[0], label="change of fraction per bin")
axes[1].errorbar(times, frac, yerr=np.sqrt(fvar), marker="o")
axes[1].set(xlabel="time (s)", ylabel="fraction within 20 nm", title="accumulation")
for t, f, e in zip(times, frac, np.sqrt(fvar), strict=True):
    print(f"t = {t:5.0f} s: accumulated fraction {f:.4f} +- {e:.4f}")

# %%
# Fit every frame with the transient drift-diffusion profile at once: the
# bias time differs per frame, so ``time`` gets one value per frame (the
# pristine frame, t = 0, is not fitted). Both ends of the layer block the
# ions, so the exact closed-layer form (``thickness=L``) is fitted over the
# whole layer. The frames are then combined.
print(f"truth: D = {D:.3e} m^2/s, mu = {mu:.3e} m^2/(V s)")
fit = fit_migration_profile(
    series, "transient", wall=0.0, field=field, time=times, thickness=L
)
Dq, mq, eq = fit["D"], fit["mobility"], fit["einstein_ratio"]
for i in range(1, times.size):
    print(
        f"t = {times[i]:4.0f} s: D = {Dq.value[i]:.3e} +- {Dq.std[i]:.1e}, "
        f"mu = {mq.value[i]:.3e} +- {mq.std[i]:.1e}, "
        f"Einstein ratio = {eq.value[i]:.2f} +- {eq.std[i]:.2f}"
    )
for name in ("D", "mobility"):
    q = fit.combined(name)
    print(f"combined {name} = {q.value:.3e} +- {q.std:.1e} ({q.description})")

fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
ax.plot(x, counts[-1], ".", ms=3, label="counts, t = 200 s")
ax.plot(x, fit.model.as_signal().data[-1], label="drift-diffusion fit")
ax.set(xlim=(0, 150), xlabel="distance from cathode (nm)", ylabel="I counts")
ax.legend()

# %%
# The same fit on an EDX map: a simulated biased solar-cell cross-section
# (:func:`hyperspy_perovskite.data.device_simulation.simulate_device_eds`).
# Its iodine profile carries the device geometry, so the blocking interface
# is named and the fit stops at the next interface.
from hyperspy_perovskite.data.device_simulation import simulate_device_eds  # noqa: E402

# Pb-rich (halide-poor) clusters are left out here: near an interface they
# dent the halide profile, which a drift-diffusion model does not describe.
eds, eds_truth = simulate_device_eds(
    shape=(16, 128),
    pixel_size=4.0,
    n_channels=512,
    counts_per_pixel=3000,
    seed=2,
    n_clusters=0,
    n_clusters_biased=0,
)
iodine = eds.get_element_profiles(
    ["I_La"], check_overlaps=False, reference="SnO2/perovskite"
)[0]
fit_eds = fit_migration_profile(
    iodine, "steady", wall="SnO2/perovskite", field=eds_truth["field"]
)
lam = fit_eds["decay_length"]
print(
    f"EDX: lambda = {lam.value:.1f} +- {lam.std:.1f} nm "
    f"(k_B T / q E = {eds_truth['decay_length']:.1f} nm), Einstein ratio "
    f"{fit_eds['einstein_ratio'].value:.3f} +- {fit_eds['einstein_ratio'].std:.3f}"
)

# %%
# D and mobility from an operando EDX series. The perovskite layer is closed
# by two blocking interfaces, so the fit uses the exact closed-layer solution
# over the whole layer (plus an offset for the immobile iodide and the X-ray
# background) and reads the bias times from the series axis. Only frames
# taken before the depletion front has crossed the layer (L / (mu E) = 3.9 s
# here) separate D from mu; the steady frame (300 s) gives lambda only.
op, op_truth = simulate_device_eds(
    shape=(16, 64),
    pixel_size=8.0,
    times=[0, 0.5, 1, 2, 4, 300],
    counts_per_pixel=3000,
    seed=3,
    n_clusters=0,
    n_clusters_biased=0,
)
op_iodine = op.get_element_profiles(["I_La"], reference="SnO2/perovskite")[0]
fit_op = fit_migration_profile(
    op_iodine, "transient", wall="SnO2/perovskite", field=op_truth["field"]
)
print(
    "significance of the transient per frame:",
    fit_op["transient_significance"].value.round(1),
)
for name, key in (("D", "diffusion_coefficient"), ("mobility", "mobility")):
    q = fit_op.combined(name)
    print(
        f"operando EDX: {name} = {q.value:.3e} +- {q.std:.1e} "
        f"(truth {op_truth[key]:.3e})"
    )
fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
xo = op_iodine.axes_manager.signal_axes[0].axis
for i, t in enumerate(op_truth["times"]):
    if 0 < t < 10:
        (line,) = ax.plot(xo, op_iodine.data[i], ".", ms=4, label=f"t = {t:g} s")
        # the model of this frame (the steady frame at 300 s is not needed)
        model_i = fit_op.model.inav[i].as_signal().data
        ax.plot(xo, model_i, color=line.get_color())
ax.set(
    xlim=(-10, 290),
    xlabel="distance from SnO2/perovskite (nm)",
    ylabel="I La counts",
    title="closed-layer transient fits",
)
ax.legend()

# %%
# Interdiffusion of iodine into a glass (Li et al., Nat. Commun. 14, 7612 (2023): up to ~10 nm after 350 C
# sintering): an erfc profile gives the diffusion length 2 sqrt(D t).
xi = np.arange(-30.0, 30.0, 0.5)
prof = rng.poisson(dd.interdiffusion_profile(xi, 300.0, 15.0, 0.0, 5.0))
s_i = hs.signals.Signal1D(prof.astype(float))
s_i.axes_manager[-1].offset, s_i.axes_manager[-1].scale = -30.0, 0.5
s_i.axes_manager[-1].units = "nm"
fit_i = fit_migration_profile(s_i, "interdiffusion", time=3600.0)
print(
    f"interdiffusion length {fit_i['length'].value:.2f} +- "
    f"{fit_i['length'].std:.2f} nm, D = {fit_i['D'].value:.2e} m^2/s"
)

# %%
# Biased holography: the phase of a cross-section with a charged interface
# (a dipole layer) gives potential, field and charge density along the stack.
yy, xx = (np.mgrid[0:96, 0:96] + 0.5) * 0.5  # nm
s_coord = xx
rho = 1e5 * (np.exp(-((xi - 3) ** 2) / 18) - np.exp(-((xi + 3) ** 2) / 18))
V_line = holo.potential_from_charge(xi + 30.0, rho)
V = np.interp(s_coord - 24.0, xi, V_line)
phase = hs.signals.Signal2D(holo.interaction_constant(300.0) * 120e-9 * V)
phase.data += rng.normal(0, 0.003, phase.data.shape)
for ax in phase.axes_manager.signal_axes:
    ax.units, ax.scale, ax.offset = "nm", 0.5, 0.25
out = holography_stack_profiles(
    phase, 120.0, beam_energy=300.0, start=(0, 24), end=(48, 24), width=30.0, window=9
)
fig, axes = plt.subplots(1, 3, figsize=(10, 3), constrained_layout=True)
for ax, key in zip(axes, ("potential", "field", "charge_density"), strict=True):
    sig = out[key]
    pos = sig.axes_manager.signal_axes[0].axis
    err = np.sqrt(sig.metadata.Signal.Noise_properties.variance.data)
    ax.plot(pos, sig.data)
    ax.fill_between(pos, sig.data - err, sig.data + err, alpha=0.3)
    ax.set(xlabel="position (nm)", title=sig.metadata.General.title)
plt.show()
