"""``hspy-perovskite report --example DIR``: a ready experiment file.

Writes ``DIR/experiment.toml`` pointing at the real instrument files shipped
with the package (``hyperspy_perovskite/data/files``: an Attolight CL map, a
Bruker EDX map with its HAADF image and a Protochips biasing log; see the
README there), with every option of each section written out and commented,
so that replacing the file names by your own is all it takes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_file", "write_example"]


def bundled_file(name):
    """Path of a real file shipped with the package (``data/files/<name>``).

    Examples
    --------
    >>> from hyperspy_perovskite.report.example import bundled_file
    >>> bundled_file("protochips/protochips_electrical.csv").name
    'protochips_electrical.csv'
    """
    path = Path(str(resources.files("hyperspy_perovskite") / "data" / "files" / name))
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} is not among the files shipped in {path.parent.parent}."
        )
    return path


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "/") + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _section_text(section, values):
    lines = [f"[{section.key}]"]
    for key, default in section.defaults.items():
        help_ = section.help.get(key, "")
        value = values.get(key, default)
        if value is None:
            lines.append(f"# {key} =   # {help_}")
        else:
            lines.append(f"{key} = {_toml_value(value)}   # {help_}")
    return "\n".join(lines)


def example_values():
    """The options of the example, per section (bundled real files)."""
    return {
        "cl": {
            "map": bundled_file("cl/test_spectral_map.sur"),
            "signal_type": "CL_SEM_perovskite",
            "signal_range": [340.0, 420.0],
        },
        "insitu": {"stimulus": bundled_file("protochips/protochips_electrical.csv")},
        "eds": {
            "map": bundled_file("eds/test_TEM.bcf"),
            "map_binning": 4,
            "line_start": [5.0, 25.0],
            "line_end": [45.0, 25.0],
            "width": 10.0,
        },
    }


def write_example(directory):
    """Write ``experiment.toml`` for the bundled real files into ``directory``.

    Parameters
    ----------
    directory : str or pathlib.Path
        Created if needed.

    Returns
    -------
    pathlib.Path
        The experiment file.
    """
    from hyperspy_perovskite.report.sections import get_sections

    directory = Path(directory).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sections = get_sections()
    values = example_values()
    head = (
        "# hyperspy-perovskite experiment file: run it with\n"
        "#     hspy-perovskite report experiment.toml\n"
        "# It names real instrument files shipped with the package (an Attolight\n"
        "# CL map, a Bruker EDX map with its HAADF image, a Protochips biasing log);\n"
        "# replace them by your own files (paths relative to this file or absolute).\n"
        "# Remove a [section] you do not need; options left commented use their\n"
        "# defaults. The report is written to the folder named by `output`.\n\n"
        'title = "Example report on the real files shipped with hyperspy-perovskite"\n'
        'output = "report"\n'
        'format = "zspy"   # or "hspy"\n'
    )
    body = "\n\n".join(
        _section_text(sections[key], values.get(key, {})) for key in values
    )
    path = directory / "experiment.toml"
    path.write_text(head + "\n" + body + "\n", encoding="utf-8")
    return path
