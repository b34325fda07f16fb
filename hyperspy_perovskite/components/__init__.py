"""HyperSpy components of the suite.

They are registered under ``components1D`` in ``hyperspy_extension.yaml`` so
that saved models restore them by name, and each has a compiled kernel so
that :func:`hyperspy_perovskite.fitting.fast_multifit` fits them. Import them
from here::

    from hyperspy_perovskite.components import GaussianEmission
"""

__all__ = []
# --- cathodoluminescence components ---
from hyperspy_perovskite.components.emission_bands import (  # noqa: E402
    AsymmetricEmission,
    ContinuousUrbachTail,
    WavelengthOffset,
)
from hyperspy_perovskite.components.gaussian_emission import GaussianEmission  # noqa: E402
from hyperspy_perovskite.components.urbach_tail import UrbachTail  # noqa: E402
from hyperspy_perovskite.components.voigt_emission import VoigtEmission  # noqa: E402

__all__ += [
    "GaussianEmission",
    "UrbachTail",
    "AsymmetricEmission",
    "ContinuousUrbachTail",
    "WavelengthOffset",
    "VoigtEmission",
]
# --- in situ kinetics components ---
from hyperspy_perovskite.components.crystallinity_jmak import CrystallinityJMAK  # noqa: E402

__all__ += ["CrystallinityJMAK"]
# --- migration / interdiffusion components ---
from hyperspy_perovskite.components.drift_diffusion_accumulation import (  # noqa: E402
    DriftDiffusionAccumulation,
)
from hyperspy_perovskite.components.drift_diffusion_transient import (  # noqa: E402
    DriftDiffusionTransient,
)
from hyperspy_perovskite.components.interdiffusion import Interdiffusion  # noqa: E402

__all__ += ["DriftDiffusionAccumulation", "DriftDiffusionTransient", "Interdiffusion"]
# --- device performance (J-V) components ---
from hyperspy_perovskite.components.single_diode import SingleDiode  # noqa: E402

__all__ += ["SingleDiode"]
