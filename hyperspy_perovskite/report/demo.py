"""The parts of ``hspy-perovskite demo``, run in order.

Each part is ``(title, "module.path:function")``; the function takes the
output folder (:class:`pathlib.Path`) and returns the list of files it wrote.
"""

DEMO_PARTS = [
    ("Batched fitting engine on a simulated CL map", "hyperspy_perovskite.report.demo_fitting:run"),
    # --- cathodoluminescence parts ---
    # --- in situ parts ---
    # --- EDX / migration parts ---
]
