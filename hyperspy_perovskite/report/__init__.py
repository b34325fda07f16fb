"""Reports: ``hspy-perovskite report`` (your files) and the demo parts.

:func:`build_report` runs the sections an experiment file names
(:mod:`~hyperspy_perovskite.report.experiment`) and writes one self-contained
HTML report; :func:`write_example` writes an experiment file for the real
files shipped with the package. A workflow joins the report by adding its
:class:`~hyperspy_perovskite.report.sections.Section` to
:data:`~hyperspy_perovskite.report.sections.BUILTIN_SECTIONS`.
"""

from hyperspy_perovskite.report.example import write_example
from hyperspy_perovskite.report.pipeline import build_report
from hyperspy_perovskite.report.sections import Section, register_section

__all__ = ["Section", "build_report", "register_section", "write_example"]
