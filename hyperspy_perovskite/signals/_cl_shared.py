"""The Urbach tail's shape held at given values: ``Eu`` and the edge offset.

With ``Eu`` and the edge ``E0`` free in every pixel, a band and its Urbach
tail are only marginally told apart at the signal-to-noise of a CL map:
which pixels pass the tail's identification is then mostly a property of
the noise (two noise realisations of the same truth share 159 of about 515
valid pixels, ``benchmarks/bench_cl_fit.py``, true Eu 50 meV), and at Eu
near the band sigma no band is valid. The tail's shape is a property of the
material (film, grain, phase): ``fit_emission(tail=True, axis="energy",
urbach_energy=..., urbach_edge=...)`` holds the Urbach energy and the
edge's offset below the band centre (``E0 = centre - urbach_edge``, ``E0``
twinned to the centre) in every pixel, e.g. from absorption or from a fit of
the region's summed spectrum. The per-pixel fit then measures the band
(centre, width, area) and the tail's amplitude, and the band's validity no
longer waits for the tail's identification
(:func:`~hyperspy_perovskite.signals._cl_limits.tail_identified` is not
applied: :func:`held_tail`); the tail is valid where its amplitude is
significant, and the Urbach energy map is the held value with the given
standard deviation (0 by default; the band errors do not carry it).

Both are needed. Measured on the bench scene (``bench_cl_fit.simulate``:
edge 20 meV below the band centre, band sigma 25-35 meV, 48 x 48, seed 0),
band pulls over all converged pixels, mean / std (within 1 / 2 std):

* ``Eu`` alone held at the truth, the edge free: true Eu 25 meV centre
  -1.43 / 2.60 (0.67 / 0.78), area +2.23 / 4.21 (0.63 / 0.73); 50 meV
  centre -0.55 / 1.17, area +0.71 / 1.60; the edge ends 13 meV (median)
  from the truth at 25 meV: it is the other direction the data hardly
  determine. Refused (ValueError).
* both held at the truth (64 x 64, seeds 0 / 1; every converged pixel is
  band-valid: 4092-4096 of 4096): true Eu 8 meV centre +0.10 / 0.81 (0.79 /
  0.98), +0.12 / 0.79, area -0.13 / 0.81, -0.14 / 0.80; 12 meV centre
  +0.08 / 0.88 (0.76 / 0.97), +0.09 / 0.87, area -0.10 / 0.89, -0.11 /
  0.87; 25 meV centre +0.07 / 0.96 (0.72 / 0.96), +0.07 / 0.98, area -0.09
  / 0.96, -0.09 / 0.98; 50 meV centre -0.01 / 1.02 (0.68 / 0.95), -0.02 /
  1.00, area 0.00 / 1.02, +0.01 / 1.01; sigma within 0.13 of 0 and 0.82-1.01
  everywhere. The free fit of the same maps: 0 band-valid at 8-25 meV,
  about 550 (13 %) at 50 meV, with centre pulls -0.8 and area +1.1 there.
  CPU 111-126 us per spectrum (warm, load 1-2) against about 280 free.

Held wrong, the band is biased (64 x 64, seed 0; centre / sigma / area
pull means, spreads 0.86-1.26): ``Eu`` 20 % high / low at a true 12 meV
-0.02 / -0.02 / +0.03 and +0.19 / -0.15 / -0.24; at 25 meV -0.02 / +0.03 /
+0.05 and +0.20 / -0.13 / -0.28; at 50 meV **-2.98 / +2.32 / +4.82** and
+0.58 / -0.83 / -0.84. The edge 20 % deeper / shallower (24 / 16 meV for
20) at 12 meV -0.16 / +0.04 / +0.28 and +0.28 / -0.18 / -0.40; at 25 meV
-0.27 / +0.12 / +0.48 and +0.38 / -0.19 / -0.59; at 50 meV -0.77 / +0.43 /
+1.38 and +0.58 / -0.38 / -1.04. Where the tail is long (Eu above the band
sigma) the band is sensitive to the held values: an ``Eu`` too long takes
the band's low-energy side into the tail. Hold values measured on the same
material, and compare the maps at the values' own limits of error.
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_twin", "finish_held", "held_tail", "parse_urbach_energy"]


def parse_urbach_energy(value, tail):
    """``(mode, Eu, Eu std, edge offset)`` of ``fit_emission``'s
    ``(urbach_energy, urbach_edge)``.

    ``mode`` is None (``Eu`` and the edge free per pixel) or ``"held"``:
    ``Eu`` in eV with its standard deviation (0 unless given as a pair),
    and the edge's offset below the band centre in eV. Both or neither:
    ``Eu`` held with the edge free leaves the band wrong (see the module's
    documentation).

    Examples
    --------
    >>> from hyperspy_perovskite.signals._cl_shared import parse_urbach_energy
    >>> parse_urbach_energy(("25 meV", 0.02), "continuous")
    ('held', 0.025, 0.0, 0.02)
    >>> parse_urbach_energy(((0.03, "2 meV"), "20 meV"), "continuous")
    ('held', 0.03, 0.002, 0.02)
    """
    from hyperspy_perovskite.units import parse_quantity

    eu, edge = value
    if eu is None and edge is None:
        return None, None, None, None
    if not tail:
        raise ValueError(
            "urbach_energy and urbach_edge need an Urbach tail: "
            "fit_emission(tail=True, axis='energy', ...)."
        )
    if eu is None or edge is None:
        raise ValueError(
            "Give urbach_energy and urbach_edge together: with the Urbach "
            "energy held and the edge free (or the reverse) the band and its "
            "tail are still not told apart, and the band's centre and area "
            "are biased (bench_cl_fit scene, Eu held at the truth: centre "
            "pulls -1.4, area +2.2 standard deviations)."
        )
    pair = isinstance(eu, (tuple, list)) and len(eu) == 2
    eu, std = eu if pair else (eu, 0.0)
    eu = parse_quantity(eu, "eV", name="urbach_energy")
    std = parse_quantity(std, "eV", name="urbach_energy std")
    edge = parse_quantity(edge, "eV", name="urbach_edge")
    if not (eu > 0 and std >= 0 and np.isfinite([eu, std, edge]).all()):
        raise ValueError(
            "urbach_energy must be a positive Urbach energy (with a standard "
            f"deviation >= 0) and urbach_edge a finite offset, not {value!r}."
        )
    return "held", float(eu), float(std), float(edge)


def held_tail(t):
    """Whether tail ``t`` has its shape held: ``Eu`` fixed and the edge
    ``E0`` tied to its band's centre (``fit_emission(urbach_energy=...,
    urbach_edge=...)``). Its band then needs no per-pixel identification
    of the tail."""
    return not t.Eu.free and t.E0.twin is not None and t.E0.twin.name == "centre"


def edge_twin(settings):
    """``(twin expression, inverse)`` tying a tail's edge ``E0`` to its band
    centre: ``E0 = centre - offset`` (0 for a step tail without a held
    edge), or None for a free edge."""
    off = settings.eu_edge
    if off is None:
        return ("x", "x") if settings.tail == "step" else None
    return f"x - {off!r}", f"x + {off!r}"


def finish_held(m, settings, mask):
    """Write the held (or shared) ``Eu`` and its standard deviation into the
    tail's map at every fitted pixel (the engine leaves a held parameter's
    error as it was)."""
    if settings.eu_mode is None:
        return
    t = m["Urbach"]
    fitted = np.isfinite(np.asarray(t.A.map["values"], float))
    if mask is not None:
        fitted &= ~np.asarray(mask, bool)
    t.Eu.map["values"][fitted] = settings.eu_value
    t.Eu.map["std"][fitted] = settings.eu_std
    t.fetch_stored_values()
