"""The parts of ``hspy-perovskite demo``, run in order.

Each part is ``(title, "module.path:function")``; the function takes the
output folder (:class:`pathlib.Path`) and returns the list of files it wrote.
"""

DEMO_PARTS = [
    (
        "Batched fitting engine on a simulated CL map",
        "hyperspy_perovskite.report.demo_fitting:run",
    ),
    # --- cathodoluminescence parts ---
    (
        "CL emission maps, statistics and edge-vs-core",
        "hyperspy_perovskite.report.demo_cl:run",
    ),
    # --- in situ parts ---
    (
        "In situ HRTEM under bias: fringe tracking, kinetics, drift, dose",
        "hyperspy_perovskite.report.demo_insitu:run",
    ),
    (
        "In situ SAED under bias: facet-dependent amorphization",
        "hyperspy_perovskite.report.demo_diffraction:run",
    ),
    # --- EDX / migration parts ---
    (
        "EDX maps under bias: halide migration and Pb-rich clusters",
        "hyperspy_perovskite.report.demo_eds:run",
    ),
]
