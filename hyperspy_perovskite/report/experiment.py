"""The experiment file: which of your files go into which analysis.

A TOML file (``tomllib``, Python's own reader) with a few top-level keys and
one table per workflow::

    title = "Nano solar cell, 1 V forward bias"
    output = "report"          # folder for report.html and results/
    format = "zspy"            # or "hspy": format of the saved results

    [cl]
    map = "cl_map.dm4"         # paths are relative to this file
    signal_range = [680, 740]  # nm

Every table name must be a section of the report
(:func:`hyperspy_perovskite.report.sections.get_sections`), and every key of
a table one of that section's options: a typo is refused with the list of
known names.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Experiment", "ExperimentError", "load_experiment"]

_TOP_LEVEL = {"title": "Experiment report", "output": None, "format": "zspy"}


class ExperimentError(ValueError):
    """The experiment file is not usable; the message says what to change."""


@dataclass
class Experiment:
    """A parsed experiment file.

    Attributes
    ----------
    path : pathlib.Path
        The file (absolute).
    title : str
    output : pathlib.Path
        Output folder (absolute).
    file_format : str
    sections : dict of str to dict
        Section key -> options (defaults filled in, file paths absolute), in
        report order.
    """

    path: Path
    title: str
    output: Path
    file_format: str
    sections: dict = field(default_factory=dict)


def load_experiment(path, output=None):
    """Read and check an experiment file.

    Parameters
    ----------
    path : str or pathlib.Path
    output : str or pathlib.Path, optional
        Overrides the file's ``output`` (default: ``<file stem>_report`` beside
        the file).

    Returns
    -------
    Experiment

    Raises
    ------
    ExperimentError
        Unreadable TOML, unknown section or option, missing required option
        or input file.
    """
    from hyperspy_perovskite.report.sections import get_sections

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ExperimentError(f"Experiment file {path} does not exist.")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ExperimentError(f"{path.name} is not valid TOML: {err}") from err
    known = get_sections()
    unknown = [k for k in doc if k not in _TOP_LEVEL and k not in known]
    if unknown:
        raise ExperimentError(
            f"{path.name}: unknown entr{'ies' if len(unknown) > 1 else 'y'} "
            f"{unknown}; the top-level keys are {list(_TOP_LEVEL)} and the "
            f"sections are {list(known)}."
        )
    fmt = str(doc.get("format", "zspy")).lower().lstrip(".")
    if fmt not in ("zspy", "hspy"):
        raise ExperimentError(
            f"{path.name}: format must be 'zspy' or 'hspy', got {doc['format']!r}."
        )
    if output is None:
        out = doc.get("output") or f"{path.stem}_report"
        output = (path.parent / out).resolve()
    sections = {}
    for key, section in known.items():
        if key not in doc:
            continue
        if not isinstance(doc[key], dict):
            raise ExperimentError(f"{path.name}: [{key}] must be a table of options.")
        sections[key] = _section_options(path, section, doc[key])
    if not sections:
        raise ExperimentError(
            f"{path.name} names no analysis: add at least one of the tables "
            + ", ".join(f"[{k}]" for k in known)
            + " (see `hspy-perovskite report --example DIR`)."
        )
    return Experiment(
        path=path,
        title=str(doc.get("title", _TOP_LEVEL["title"])),
        output=Path(output).expanduser().resolve(),
        file_format=fmt,
        sections=sections,
    )


def _section_options(path, section, given):
    bad = [k for k in given if k not in section.defaults]
    if bad:
        raise ExperimentError(
            f"{path.name}: [{section.key}] has no option {bad}; its options are "
            f"{list(section.defaults)}."
        )
    missing = [k for k in section.required if given.get(k) in (None, "")]
    if missing:
        raise ExperimentError(
            f"{path.name}: [{section.key}] needs {missing} "
            f"({'; '.join(section.help.get(k, k) for k in missing)})."
        )
    options = dict(section.defaults)
    options.update(given)
    for key in section.files:
        value = options.get(key)
        if value in (None, ""):
            continue
        f = Path(str(value)).expanduser()
        f = (path.parent / f).resolve() if not f.is_absolute() else f
        if not f.is_file():
            raise ExperimentError(
                f"{path.name}: [{section.key}] {key} = {str(value)!r}: no such file "
                f"({f}). Paths are relative to the experiment file's folder."
            )
        options[key] = f
    return options
