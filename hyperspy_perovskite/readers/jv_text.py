"""J-V curves from arrays and from delimited text exported by instruments.

Source-measure units (Keithley, Keysight) and potentiostats (Gamry, BioLogic,
Metrohm) export J-V sweeps as delimited text: optional ``key: value`` or
``key,value`` preamble lines (area, scan rate, irradiance, temperature), one
header line of column names with units in brackets, then numbers. Two
layouts are read:

- one voltage column and one current (A, mA...) or current-density
  (mA/cm²...) column holding several sweeps one after the other: the file is
  split where the voltage sweep turns, each part is a scan, reverse when the
  voltage falls (Voc -> Jsc), forward when it rises;
- several voltage/current column pairs, one scan per pair.

Every scan is put on an ascending voltage axis (the direction is kept in
``metadata.Device.JV.scan_directions``). Scans sharing one voltage grid are
stacked along a navigation axis ``scan``.
"""

from __future__ import annotations

import csv
import io
import os
import re

import numpy as np

from hyperspy_perovskite.units import UnitError, parse_quantity

__all__ = ["jv_curve", "read_jv_text"]

_PREAMBLE_KEYS = {
    "area": ("area", "cm^2"),
    "scan rate": ("scan_rate", "V/s"),
    "scanrate": ("scan_rate", "V/s"),
    "sweep rate": ("scan_rate", "V/s"),
    "irradiance": ("irradiance", "mW/cm^2"),
    "intensity": ("irradiance", "mW/cm^2"),
    "light intensity": ("irradiance", "mW/cm^2"),
    "temperature": ("temperature", "K"),
}


def _unit_text(text):
    """``cm²`` -> ``cm^2`` (``cm2`` is read by :mod:`hyperspy_perovskite.units`)."""
    return text.strip().replace("²", "^2").replace("³", "^3")


def jv_curve(
    voltage,
    current_density=None,
    *,
    current=None,
    area=None,
    scan_directions=None,
    conditions=None,
    illumination="AM1.5G",
    irradiance=100.0,
    scan_rate=None,
    temperature=298.15,
    voltage_units="V",
    lazy=False,
):
    """A :class:`~hyperspy_perovskite.signals.jv.JVCurve` from arrays.

    Parameters
    ----------
    voltage : array-like, 1D
        Voltages (``voltage_units``), ascending or descending (a single
        descending scan is flipped and marked "reverse").
    current_density : array-like, optional
        mA/cm², photocurrent positive: shape ``(n_v,)``, ``(n_scans, n_v)``
        or ``(n_conditions, n_scans, n_v)``.
    current : array-like, optional
        Instead of ``current_density``: current in A (a number array) or a
        string unit via :func:`read_jv_text`; needs ``area``.
    area : float or str, optional
        Aperture area; a number is cm².
    scan_directions, conditions : list of str, optional
        Labels of the ``scan`` and ``condition`` navigation axes.
    illumination : str
        ``"AM1.5G"`` (default, with ``irradiance`` 100 mW/cm², ASTM G173-03 /
        IEC 60904-3) or ``"dark"`` (then no irradiance is stored).
    irradiance : float or str
        A number is mW/cm².
    scan_rate : float or str, optional
        A number is V/s.
    temperature : float or str
        A number is K.
    voltage_units : str
        Unit of ``voltage`` ("V" or "mV").
    lazy : bool
        Return the Lazy twin.

    Returns
    -------
    JVCurve or LazyJVCurve

    Examples
    --------
    >>> from hyperspy_perovskite.readers import jv_curve
    >>> s = jv_curve([1.2, 0.6, 0.0], [-10.0, 15.0, 20.0])
    >>> s.axes_manager[-1].axis.tolist(), s.metadata.Device.JV.scan_directions
    ([0.0, 0.6, 1.2], ['reverse'])
    """
    import hyperspy.api as hs

    v = np.asarray(voltage, dtype=float) * parse_quantity(
        f"1 {voltage_units}", "V", name="voltage_units"
    )
    if (current_density is None) == (current is None):
        raise ValueError("Give exactly one of current_density (mA/cm^2) or current.")
    if current is not None:
        if area is None:
            raise ValueError(
                "A current needs the cell area to become a current density: pass "
                "area= (a number is cm^2, or e.g. '7 mm^2')."
            )
        a = parse_quantity(area, "cm^2", name="area")
        current_density = np.asarray(current, dtype=float) * 1e3 / a  # A -> mA/cm2
    J = np.array(current_density, dtype=float)
    if v.ndim != 1 or J.shape[-1] != v.size:
        raise ValueError(
            f"voltage must be 1D with as many values as the last axis of the "
            f"current ({J.shape[-1]}), got shape {v.shape}."
        )
    dv = np.diff(v)
    if np.all(dv < 0):
        v, J = v[::-1], J[..., ::-1]
        if scan_directions is None and J.ndim == 1:
            scan_directions = ["reverse"]
    elif not np.all(dv > 0):
        raise ValueError(
            "The voltage is not monotonic: within one scan it must only rise "
            "(forward) or only fall (reverse). Split several sweeps with "
            "read_jv_text or give one scan per row on a common voltage grid."
        )
    elif scan_directions is None and J.ndim == 1:
        scan_directions = ["forward"]
    steps = np.diff(v)
    if np.allclose(steps, steps[0], rtol=1e-6, atol=1e-12):
        sig_ax = {"size": v.size, "offset": v[0], "scale": steps[0]}
    else:
        sig_ax = {"axis": v}
    sig_ax.update(name="voltage", units="V", navigate=False)
    nav = []
    names = {2: ["scan"], 3: ["condition", "scan"]}.get(J.ndim, [])
    if J.ndim > 3:
        raise ValueError(f"current_density has {J.ndim} dimensions; at most 3.")
    for name, size in zip(names, J.shape[:-1], strict=True):
        nav.append({"size": size, "name": name, "navigate": True})
    s = hs.signals.Signal1D(J, axes=nav + [sig_ax])
    s.set_signal_type("JV_curve")
    s.metadata.General.title = "J-V curve"
    s.metadata.Signal.quantity = "Current density (mA/cm^2)"
    dark = str(illumination).lower() == "dark"
    s.set_device(
        area=area, illumination=illumination, irradiance=None if dark else irradiance,
        scan_rate=scan_rate, temperature=temperature,
        scan_directions=scan_directions, conditions=conditions,
    )  # fmt: skip
    return s.as_lazy() if lazy else s


def _read_table(path, delimiter):
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        lines = [ln.rstrip("\r\n") for ln in fh]
    preamble, header_i = {}, None
    for i, ln in enumerate(lines):
        txt = ln.strip()
        if not txt or txt.startswith("#"):
            txt = txt.lstrip("#").strip()
        m = re.match(r"^([A-Za-z][A-Za-z ]*?)\s*[:=,;\t]\s*([-+\d.eE]+\s*\S*)\s*$", txt)
        if m and m.group(1).lower().strip() in _PREAMBLE_KEYS:
            preamble[m.group(1).lower().strip()] = m.group(2)
            continue
        if ln.strip().startswith("#") or not ln.strip():
            continue
        cells = (
            re.split(r"[,;\t]|\s{2,}", ln.strip())
            if delimiter is None
            else ln.split(delimiter)
        )
        if len(cells) >= 2 and any(re.search(r"[A-Za-z]", c) for c in cells):
            try:
                float(cells[0])
            except ValueError:
                header_i = i
                break
    if header_i is None:
        raise ValueError(
            f"No header line of column names found in {path!r}; the first table "
            "line must name the columns, e.g. 'Voltage (V), Current (A)'."
        )
    body = "\n".join(
        ln for ln in lines[header_i:] if ln.strip() and not ln.startswith("#")
    )
    dialect_delim = delimiter
    if dialect_delim is None:
        dialect_delim = csv.Sniffer().sniff(body.splitlines()[0], ",;\t").delimiter
    rows = list(csv.reader(io.StringIO(body), delimiter=dialect_delim))
    header = [h.strip() for h in rows[0]]
    try:
        data = np.array([[float(c) for c in r] for r in rows[1:] if r], dtype=float)
    except ValueError as exc:
        raise ValueError(f"Non-numeric value in the table of {path!r}: {exc}.") from exc
    return header, data, preamble


def _column_role(name):
    """(role, unit) of a column from its header, e.g. ``"Current (mA)"`` or the
    BioLogic form ``"<I>/mA"``."""
    m = re.match(r"^(.*?)\s*[\(\[]\s*(.*?)\s*[\)\]]\s*$", name)
    if m:
        label, unit = m.group(1), m.group(2)
    elif "/" in name:
        label, unit = name.split("/", 1)
    else:
        label, unit = name, ""
    low = label.lower().strip("<> ")
    unit = _unit_text(unit) if unit else ""
    if re.search(r"volt|^v(\b|_)|^ewe|^e(\b|_)|^u(\b|_)|^bias", low):
        return "voltage", unit or "V"
    if re.search(r"density|^j(\b|_)", low):
        return "current_density", unit or "mA/cm^2"
    if re.search(r"current|^i(\b|_)", low):
        return "current", unit or "A"
    return None, unit


def _split_sweeps(v, min_points=5):
    """Index ranges of the monotonic parts of a voltage record.

    A turning point belongs to the sweep it ends; a turning point written
    twice (common in exports) starts the next sweep with its copy.
    """
    d = np.sign(np.diff(v))
    starts, cur = [0], 0.0
    for k, step in enumerate(d, start=1):
        if step == 0:
            after = d[k] if k < d.size else 0.0
            if cur != 0 and after == cur:
                raise ValueError(
                    f"Repeated voltage {v[k]:.6g} V inside a scan (row {k}): the "
                    "voltage axis is not monotonic within a scan. Remove the "
                    "duplicate points."
                )
            starts.append(k)
            cur = 0.0
        elif cur != 0 and step != cur:
            starts.append(k)
            cur = step
        else:
            cur = step
    bounds = starts + [v.size]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi - lo < min_points:
            raise ValueError(
                f"The voltage axis is not monotonic within a scan: a part of "
                f"{hi - lo} points at rows {lo}-{hi - 1}. Check the voltage column "
                "(noise in a measured voltage? then use the set-point column)."
            )
        parts.append((lo, hi))
    return parts


def read_jv_text(
    path,
    *,
    area=None,
    delimiter=None,
    photocurrent_sign="auto",
    illumination="AM1.5G",
    irradiance=None,
    scan_rate=None,
    temperature=None,
):
    """Read J-V sweeps from a delimited text export.

    Parameters
    ----------
    path : str or path-like
    area : float or str, optional
        Cell area (a number is cm²); needed when the file holds a current and
        states no ``Area`` in its preamble.
    delimiter : str, optional
        Column delimiter (default: detected among ``,`` ``;`` tab).
    photocurrent_sign : {"auto", 1, -1}
        ``-1`` multiplies the current by -1 (instruments that count the
        photocurrent negative); "auto" does so when the current at the
        smallest ``|V|`` is negative and the curve crosses zero above it.
    illumination : str
        "AM1.5G" (default) or "dark".
    irradiance, scan_rate, temperature : float or str, optional
        Override the preamble (numbers: mW/cm², V/s, K). Default irradiance
        100 mW/cm² (AM1.5G) unless dark.

    Returns
    -------
    JVCurve or list of JVCurve
        One signal with a ``scan`` axis when all scans share a voltage grid,
        else a list with one signal per scan.

    Examples
    --------
    >>> import os, tempfile
    >>> from hyperspy_perovskite.readers import read_jv_text
    >>> path = os.path.join(tempfile.mkdtemp(), "cell.csv")
    >>> v = np.round(np.linspace(1.2, -0.1, 27), 3)
    >>> i = -1.6e-3 * (1 - np.exp((v - 1.05) / 0.05))
    >>> rows = "\\n".join(f"{a},{b}" for a, b in zip(np.r_[v, v[::-1]], np.r_[i, i[::-1]]))
    >>> _ = open(path, "w").write("Area: 0.07 cm2\\nVoltage (V),Current (A)\\n" + rows)
    >>> s = read_jv_text(path)
    >>> s.metadata.Device.JV.scan_directions, s.data.shape
    (['reverse', 'forward'], (2, 27))
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"J-V file {path!r} does not exist.")
    header, data, pre = _read_table(path, delimiter)
    roles = [_column_role(h) for h in header]
    vcols = [i for i, (r, _) in enumerate(roles) if r == "voltage"]
    icols = [i for i, (r, _) in enumerate(roles) if r in ("current", "current_density")]
    if not vcols or not icols:
        raise ValueError(
            f"Cannot find a voltage and a current column in {header}; name them "
            "e.g. 'Voltage (V)' and 'Current (A)' or 'J (mA/cm^2)'."
        )
    info = {}
    for key, text in pre.items():
        field, unit = _PREAMBLE_KEYS[key]
        try:
            info[field] = parse_quantity(_unit_text(text), unit, name=key)
        except UnitError:
            info[field] = float(re.match(r"[-+\d.eE]+", text).group(0))
    for field, val in (("area", area), ("irradiance", irradiance),
                       ("scan_rate", scan_rate), ("temperature", temperature)):  # fmt: skip
        if val is not None:
            info[field] = val
    pairs = (
        list(zip(vcols, icols, strict=False))
        if len(vcols) > 1
        else [(vcols[0], icols[0])]
    )
    scans = []
    for vc, ic in pairs:
        ok = np.isfinite(data[:, vc]) & np.isfinite(data[:, ic])
        v, y = data[ok, vc], data[ok, ic]
        role, unit = roles[ic]
        if role == "current":
            if "area" not in info:
                raise ValueError(
                    f"Column {header[ic]!r} is a current without the cell area: "
                    "pass area= (a number is cm^2) or add 'Area: 0.07 cm2' to the file."
                )
            a = parse_quantity(info["area"], "cm^2", name="area")
            y = y * parse_quantity(f"1 {unit}", "mA", name=header[ic]) / a
        else:
            y = y * parse_quantity(f"1 {unit}", "mA/cm^2", name=header[ic])
        v = v * parse_quantity(f"1 {roles[vc][1]}", "V", name=header[vc])
        for lo, hi in _split_sweeps(v) if len(pairs) == 1 else [(0, v.size)]:
            scans.append((v[lo:hi], y[lo:hi]))
    return _assemble_scans(scans, photocurrent_sign, illumination, info)


def _assemble_scans(scans, sign, illumination, info):
    out = []
    for v, y in scans:
        direction = "forward" if v[-1] > v[0] else "reverse"
        order = np.argsort(v)
        v, y = v[order], y[order]
        if np.any(np.diff(v) <= 0):
            raise ValueError(
                "The voltage axis is not monotonic within a scan (repeated "
                f"values near {v[np.argmin(np.diff(v))]:.4g} V)."
            )
        if sign == "auto":
            i0 = int(np.argmin(np.abs(v)))
            f = -1.0 if (y[i0] < 0 and np.any(y[i0:] > 0)) else 1.0
        elif sign in (1, -1):
            f = float(sign)
        else:
            raise ValueError(
                f"photocurrent_sign must be 'auto', 1 or -1, got {sign!r}."
            )
        out.append((v, f * y, direction))
    dark = str(illumination).lower() == "dark"
    kw = {
        "illumination": illumination,
        "irradiance": None if dark else info.get("irradiance", 100.0),
        "scan_rate": info.get("scan_rate"),
        "temperature": info.get("temperature", 298.15),
        "area": info.get("area"),
    }
    grids = [np.round(v, 9) for v, _, _ in out]
    if all(g.shape == grids[0].shape and np.array_equal(g, grids[0]) for g in grids):
        J = np.array([y for _, y, _ in out])
        return jv_curve(
            out[0][0], J if len(out) > 1 else J[0],
            scan_directions=[d for _, _, d in out], **kw,
        )  # fmt: skip
    return [jv_curve(v, y, scan_directions=[d], **kw) for v, y, d in out]
