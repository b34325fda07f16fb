"""Helpers shared by the migration-profile components (private)."""

import numpy as np

from hyperspy_perovskite.units import axis_factor


def optional_time(time, required=False):
    """Validate a duration in s (``None`` allowed unless ``required``)."""
    if time is None:
        if required:
            raise ValueError(
                "A duration is needed to convert lengths into D or mobility: "
                "pass time=<seconds> (bias or sintering duration)."
            )
        return None
    t = float(time)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"time must be a positive duration in s, got {time!r}.")
    return t


def side_sign(side):
    """+1 for a layer at ``x > wall`` ("right"), -1 for ``x < wall`` ("left")."""
    if side in ("right", 1, "+"):
        return 1
    if side in ("left", -1, "-"):
        return -1
    raise ValueError(
        f"side must be 'right' (layer at x > wall) or 'left' (layer at x < "
        f"wall), got {side!r}."
    )


def profile_slice(signal, x1, x2, only_current):
    """Axis values in ``[x1, x2]`` and data with the signal axis last.

    Binned axes are converted to densities (counts per axis unit), the
    quantity the components describe.
    """
    axis = signal.axes_manager.signal_axes[0]
    i1, i2 = axis.value_range_to_indices(x1, x2)
    x = np.asarray(axis.axis[i1:i2], dtype=float)
    if only_current:
        data = np.asarray(signal._get_current_data()[i1:i2], dtype=float)
    else:
        data = signal.data[..., i1:i2]
    if axis.is_binned:
        data = data / np.gradient(axis.axis)[i1:i2]
    return x, data


def parameter_arrays(parameter):
    """``(values, std)`` of a parameter: navigation maps, or 0-d arrays."""
    am = getattr(parameter, "_axes_manager", None)
    nav = am.navigation_dimension if am is not None else 0
    if nav > 0 and parameter.map is not None:
        v = np.array(parameter.map["values"], dtype=float)
        s = np.array(parameter.map["std"], dtype=float)
    else:
        v = np.array(parameter.value, dtype=float)
        s = np.array(np.nan if parameter.std is None else parameter.std, dtype=float)
    return v, s


def axis_nm_factor(component):
    """nm per unit of the signal axis of the component's model."""
    model = getattr(component, "model", None)
    if model is None:
        raise ValueError(
            f"Component '{component.name}' is not in a model: add it to a model "
            "of a profile signal (length axis) to get physical quantities."
        )
    return axis_factor(
        model.axes_manager.signal_axes[0], "nm", name="the profile position"
    )
