"""The report's sections: one table, one function per workflow.

A section is a table name in the experiment file (``[cl]``, ``[insitu]``,
``[eds]``...) and a function ``run(ctx, options)`` that loads the files the
table names, runs the analysis, and adds figures, tables, numbers and saved
results to ``ctx`` (:class:`~hyperspy_perovskite.report._context.SectionContext`).

To add a workflow to the report, write its :class:`Section` (in its own
module) and add one line to :data:`BUILTIN_SECTIONS`; a user or another
package can also call :func:`register_section` at run time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["BUILTIN_SECTIONS", "Section", "get_sections", "register_section"]


@dataclass(frozen=True)
class Section:
    """One section of the report.

    Parameters
    ----------
    key : str
        Table name in the experiment file.
    title : str
        Heading in the report.
    run : callable
        ``run(ctx, options)``; ``options`` holds :attr:`defaults` updated with
        the user's values, file options already resolved to absolute paths.
    defaults : dict
        Every option and its default (``None``: optional, no default). Options
        not listed here are refused with the list of known ones.
    files : tuple of str
        Options that name input files (resolved relative to the experiment
        file, checked to exist, hashed in the provenance).
    required : tuple of str
        Options the user must give.
    help : dict
        Option -> one-line description with its unit (shown in the example
        file and by ``hspy-perovskite report --list``).
    """

    key: str
    title: str
    run: object
    defaults: dict = field(default_factory=dict)
    files: tuple = ()
    required: tuple = ()
    help: dict = field(default_factory=dict)


#: ``key -> "module:attribute"`` of the sections shipped with the suite, in
#: report order. A workflow adds its section here (one line).
BUILTIN_SECTIONS = {
    "cl": "hyperspy_perovskite.report.section_cl:SECTION",
    "insitu": "hyperspy_perovskite.report.section_insitu:SECTION",
    "eds": "hyperspy_perovskite.report.section_eds:SECTION",
    "jv": "hyperspy_perovskite.report.section_jv:SECTION",
    "4dstem": "hyperspy_perovskite.report.section_4dstem:SECTION",
}

_REGISTERED: dict = {}


def register_section(section):
    """Add (or replace) a section of the report.

    Parameters
    ----------
    section : Section

    Examples
    --------
    >>> from hyperspy_perovskite.report.sections import Section, register_section
    >>> def run(ctx, options):
    ...     ctx.text(f"Hello {options['name']}")
    >>> register_section(Section("hello", "Hello", run, defaults={"name": "you"}))
    """
    if not isinstance(section, Section):
        raise TypeError(f"register_section needs a Section, got {type(section)}.")
    _REGISTERED[section.key] = section


def get_sections():
    """All sections, built-in first (in :data:`BUILTIN_SECTIONS` order).

    Returns
    -------
    dict of str to Section
    """
    out = {}
    for key, target in BUILTIN_SECTIONS.items():
        module, _, attr = target.partition(":")
        out[key] = getattr(importlib.import_module(module), attr)
    out.update(_REGISTERED)
    return out
