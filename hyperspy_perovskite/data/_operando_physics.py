"""Physics of the operando 4D-STEM simulator: lattices, strain, patterns.

Kinematic spot positions and intensities of the emitter, the Pb grains and
the Al cathode's grains; the true strain field; what every pattern holds
(:func:`_pattern_params`). Written from the physics, independently of the
analysis code (see :mod:`hyperspy_perovskite.data.operando_4dstem_simulation`).
"""

from __future__ import annotations

import numpy as np

# CODATA 2018 (NIST SP 961, 2019)
_H = 6.62607015e-34
_E = 1.602176634e-19
_M0 = 9.1093837015e-31
_C = 299792458.0

#: Layers along the stack (name, start as a fraction of the scan width).
LAYERS = (("PEDOT:PSS", 0.0), ("CsPbBr2Cl", 0.2), ("TPBi", 0.7), ("Al", 0.85))

A_BR, A_CL = 5.874, 5.605  # cubic CsPbBr3 / CsPbCl3, Moller (1958)
A_EMITTER = (2 * A_BR + A_CL) / 3.0  # Vegard, CsPbBr2Cl
A_PB = 4.9502
A_AL = 4.0495


def _wavelength(kv):
    ev = _E * kv * 1e3
    return 1e10 * _H / np.sqrt(2 * _M0 * ev * (1 + ev / (2 * _M0 * _C**2)))


def _f_el(z, s):
    # screened Rutherford (Wentzel) amplitude, s = sin(theta)/lambda (1/A);
    # screening from the Thomas-Fermi radius 0.885 a0 Z^-1/3 (q = 4 pi s)
    s0 = z ** (1 / 3) / (4 * np.pi * 0.885 * 0.529)
    return z / (s**2 + s0**2)


def _emitter_reflections(kmax):
    out = []
    for h in range(-4, 5):
        for k in range(-4, 5):
            if h == 0 and k == 0:
                continue
            g = np.hypot(h, k) / A_EMITTER
            if g > kmax:
                continue
            s = g / 2
            zx = (2 * 35 + 17) / 3.0  # Br2Cl average
            f = (
                _f_el(82, s)
                + _f_el(55, s) * (-1) ** (h + k)
                + _f_el(zx, s) * (1 + (-1) ** h + (-1) ** k)
            )
            out.append((h / A_EMITTER, k / A_EMITTER, (f**2) * np.exp(-2.0 * s**2)))
    r = np.array(out)
    r[:, 2] /= r[:, 2].sum()
    return r


def _fcc_110_reflections(a, with_220=True):
    # an fcc grain on the [1-10] zone: 002 along u, 111 and 11-1 at +-54.74 deg,
    # 220 normal to 002; kinematic weights of a heavy-atom fcc metal
    g111, g002, g220 = np.sqrt(3) / a, 2 / a, np.sqrt(8) / a
    ang = np.degrees(np.arccos(1 / np.sqrt(3)))
    refl = []
    for g, phi, w in ((g002, 0.0, 0.8), (g111, ang, 1.0), (g111, -ang, 1.0)):
        refl += [(g, phi, w), (g, phi + 180.0, w)]
    if with_220:
        refl += [(g220, 90.0, 0.4), (g220, 270.0, 0.4)]
    r = np.array(refl)
    r[:, 2] /= r[:, 2].sum()
    return r


def _pb_reflections():
    return _fcc_110_reflections(A_PB)


def _al_reflections():
    # Al 220 (0.70 1/A) lies outside the simulated detectors
    return _fcc_110_reflections(A_AL, with_220=False)


def strain_field(x, t, width, t_on, tau, step=None, pre_left=None):
    """True strain (exx, eyy, exy, theta) at stack position ``x`` (nm), time ``t`` (s).

    ``step`` maps each component to ``(pre, bias_amplitude)`` in the layer of
    thickness ``step["h"]`` nm next to the emitter/TPBi interface;
    ``pre_left`` maps components to a constant pre-strain in the 4 nm next to
    PEDOT:PSS/emitter. Elsewhere the emitter is unstrained (the reference).

    Examples
    --------
    >>> from hyperspy_perovskite.data.operando_4dstem_simulation import strain_field
    >>> e = strain_field(np.array([20.0, 27.0]), 120.0, 40.0, 45.0, 60.0)
    >>> np.round(e[0], 4).tolist()  # exx in the bulk and in the step
    [0.0, 0.0146]
    """
    step = step or _DEFAULT_STEP
    pre_left = pre_left or _DEFAULT_LEFT
    x = np.asarray(x, float)
    x1, x2 = LAYERS[1][1] * width, LAYERS[2][1] * width
    growth = np.where(t > t_on, 1.0 - np.exp(-(t - t_on) / tau), 0.0)
    in_step = (x >= x2 - step["h"]) & (x < x2)
    in_left = (x >= x1) & (x < x1 + 4.0)
    out = np.zeros((4,) + x.shape)
    for i, c in enumerate(("exx", "eyy", "exy", "theta")):
        pre, amp = step[c]
        out[i] = np.where(in_step, pre + amp * growth, 0.0)
        out[i] = np.where(in_left, pre_left.get(c, 0.0), out[i])
    return out


_DEFAULT_STEP = {
    "h": 5.0,
    "exx": (0.006, 0.012),
    "eyy": (-0.002, -0.003),
    "exy": (0.001, 0.002),
    "theta": (0.0017, 0.0035),
}
_DEFAULT_LEFT = {"exx": -0.004, "eyy": 0.001}


def _thickness(xs, ys, rng_params):
    k, ph, amp, clusters = rng_params
    th = np.ones_like(xs)
    for (kx, ky), p in zip(k, ph, strict=True):
        th += amp * np.cos(2 * np.pi * (kx * xs + ky * ys) + p)
    cl = np.zeros_like(xs)
    for cx, cy, r in clusters:
        cl += np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r**2))
    return th, cl


def _pattern_params(cfg, ti, yi, xi):
    """Everything that defines the patterns at flat index arrays (t, y, x)."""
    t = cfg["times"][ti]
    off = cfg["offset"][ti]
    step, width, kpix = cfg["step"], cfg["width"], cfg["kpix"]
    xs, ys = xi * step + off[:, 1], yi * step + off[:, 0]
    bounds = np.array([f for _, f in LAYERS[1:]]) * width
    # interfaces are not abrupt in projection (roughness through the lamella
    # and the probe size): occupancy of each layer with erf edges of 0.6 nm
    from scipy.special import erf

    edges = np.concatenate([[-np.inf], bounds, [np.inf]])
    occ = np.stack(
        [
            0.5
            * (
                erf((xs - edges[i]) / (np.sqrt(2) * 0.6))
                - erf((xs - edges[i + 1]) / (np.sqrt(2) * 0.6))
            )
            for i in range(len(LAYERS))
        ]
    )
    layer = np.searchsorted(bounds, xs, side="right")
    th, cl = _thickness(xs, ys, cfg["field"])
    # emitter that projects beyond an interface (roughness) carries the strain
    # of the emitter at that interface
    x_em = np.clip(xs, LAYERS[1][1] * width, LAYERS[2][1] * width - 1e-6)
    e = strain_field(x_em, t, width, cfg["t_on"], cfg["tau"])
    k = cfg["K"]
    cen = np.column_stack(
        [(k - 1) / 2 + cfg["descan"][0] * xi, (k - 1) / 2 + cfg["descan"][1] * yi]
    )
    cen = cen + cfg["jitter"][ti, yi, xi][:, ::-1]
    nuc = cfg["nuclei"]
    age = t[:, None] - nuc[None, :, 2]
    radius = np.where(age >= 0, 1.0 * step + 0.02 * step * age, -1.0)
    dist = np.hypot(xs[:, None] - nuc[None, :, 0], ys[:, None] - nuc[None, :, 1])
    inside = dist <= radius
    grain = np.where(inside.any(axis=1), np.argmax(inside, axis=1), -1)
    mu = np.array([0.25, 0.6, 0.25, 0.45]) @ occ + 0.5 * cl
    fs = 1.0 - np.exp(-mu * th)
    n_e = cfg["dose"]
    refl, pbr, alr = cfg["refl"], cfg["pb"], cfg["al"]
    nsp = 1 + len(refl) + len(pbr) + len(alr)
    spots = np.zeros((ti.size, nsp, 3))
    spots[:, 0, :2] = cen
    spots[:, 0, 2] = n_e * (1 - fs)
    emitter = occ[1] > 0.5
    pb = grain >= 0
    exx, eyy, exy, th_rot = e
    c, s = np.cos(th_rot), np.sin(th_rot)
    # F = R (I + eps); reciprocal vectors transform with F^-T
    f11 = c * (1 + exx) - s * exy
    f12 = c * exy - s * (1 + eyy)
    f21 = s * (1 + exx) + c * exy
    f22 = s * exy + c * (1 + eyy)
    det = f11 * f22 - f12 * f21
    # inverse transpose of [[f11, f12], [f21, f22]]
    m11, m12, m21, m22 = f22 / det, -f21 / det, -f12 / det, f11 / det
    bragg = occ[1] * 0.45 * fs * n_e * np.where(pb, 0.6, 1.0)
    gx = m11[:, None] * refl[None, :, 0] + m12[:, None] * refl[None, :, 1]
    gy = m21[:, None] * refl[None, :, 0] + m22[:, None] * refl[None, :, 1]
    spots[:, 1 : 1 + len(refl), 0] = cen[:, :1] + gx / kpix
    spots[:, 1 : 1 + len(refl), 1] = cen[:, 1:] + gy / kpix
    spots[:, 1 : 1 + len(refl), 2] = bragg[:, None] * refl[None, :, 2]
    phi = np.radians(nuc[np.maximum(grain, 0), 3][:, None] + pbr[None, :, 1])
    j = 1 + len(refl)
    k = j + len(pbr)
    spots[:, j:k, 0] = cen[:, :1] + pbr[None, :, 0] * np.cos(phi) / kpix
    spots[:, j:k, 1] = cen[:, 1:] + pbr[None, :, 0] * np.sin(phi) / kpix
    spots[:, j:k, 2] = np.where(pb, 0.3 * fs * n_e, 0.0)[:, None] * pbr[None, :, 2]
    # nanocrystalline Al: the grain under the probe (cells of al_grain nm in
    # the sample) gives spots on the Al rings, the others a continuous ring
    ang = cfg["al_angle"]
    cell = np.floor(np.column_stack([ys, xs]) / cfg["al_grain"]).astype(int)
    cell = np.clip(cell + 4, 0, np.array(ang.shape) - 1)
    phi = np.radians(ang[cell[:, 0], cell[:, 1]][:, None] + alr[None, :, 1])
    spots[:, k:, 0] = cen[:, :1] + alr[None, :, 0] * np.cos(phi) / kpix
    spots[:, k:, 1] = cen[:, 1:] + alr[None, :, 0] * np.sin(phi) / kpix
    spots[:, k:, 2] = (occ[3] * 0.25 * fs * n_e)[:, None] * alr[None, :, 2]
    # detector rotation: the pattern turns by rot about the direct beam
    rot = np.radians(cfg["rotation"])
    if rot:
        dx, dy = spots[:, 1:, 0] - cen[:, :1], spots[:, 1:, 1] - cen[:, 1:]
        spots[:, 1:, 0] = cen[:, :1] + np.cos(rot) * dx - np.sin(rot) * dy
        spots[:, 1:, 1] = cen[:, 1:] + np.sin(rot) * dx + np.cos(rot) * dy
    w = np.column_stack(
        [
            (0.35 * fs + 0.08 * cl) * n_e,
            (occ[0] + occ[2]) * 0.5 * fs * n_e,
            occ[3] * 0.25 * fs * n_e,
        ]
    )
    truth = {"strain": e, "emitter": emitter, "pb": pb, "centre": cen, "layer": layer}
    return spots, cen, w @ cfg["tables"], truth
