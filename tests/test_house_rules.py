"""House rules checked on the source: function and module length, units named.

- No function over :data:`MAX_FUNCTION` lines (its docstring not counted) and no
  module over :data:`MAX_MODULE` lines in ``hyperspy_perovskite/``. The current
  offenders are listed in :data:`ALLOWED_FUNCTIONS` / :data:`ALLOWED_MODULES`
  with their present length as a ceiling: they may shrink (and leave the list),
  never grow, and nothing new may join them.
- Every argument of a public signal method whose value carries a physical unit
  (length, time, energy, voltage, current, dose, angle, temperature) names its
  unit in the numpydoc ``Parameters`` entry, and every argument whose name looks
  unit-bearing is classified here (a new one without a class fails).
"""

import ast
import inspect
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hyperspy_perovskite"
MAX_FUNCTION = 120
MAX_MODULE = 600

#: Offenders when the rule was introduced: path relative to the package ->
#: length (lines). The engineers who own them are shrinking them; the lead
#: empties these lists. An entry may only go down.
ALLOWED_MODULES = {}
#: "path::qualified function name" -> lines without the docstring.
ALLOWED_FUNCTIONS = {}


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def _rel(path):
    return path.relative_to(PACKAGE).as_posix()


def function_lengths(source):
    """(qualified name, first line, lines without the docstring) of every function."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = child.end_lineno - child.lineno + 1
                first = child.body[0]
                if (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                ):
                    n -= first.end_lineno - first.lineno + 1
                out.append((prefix + child.name, child.lineno, n))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def test_function_lengths_are_measured_without_docstring():
    src = 'def f(x):\n    """Doc.\n\n    More.\n    """\n    y = x\n    return y\n'
    src += "class C:\n    def g(self):\n        def h():\n            pass\n"
    got = {name: n for name, _, n in function_lengths(src)}
    assert got == {"f": 3, "C.g": 3, "C.g.h": 2}


@pytest.mark.parametrize("path", _sources(), ids=_rel)
def test_function_and_module_length(path):
    source = path.read_text(encoding="utf-8")
    rel = _rel(path)
    problems = []
    n_module = len(source.splitlines())
    ceiling = ALLOWED_MODULES.get(rel, MAX_MODULE)
    if n_module > ceiling:
        problems.append(
            f"module {rel} has {n_module} lines: the rule is at most {MAX_MODULE}"
            + (
                f" (allow-listed at {ceiling}, it may only shrink)"
                if rel in ALLOWED_MODULES
                else ""
            )  # fmt: skip
            + "; split it by job."
        )
    for name, line, n in function_lengths(source):
        key = f"{rel}::{name}"
        ceiling = ALLOWED_FUNCTIONS.get(key, MAX_FUNCTION)
        if n > ceiling:
            problems.append(
                f"function {name} ({rel}:{line}) has {n} lines without its "
                f"docstring: the rule is at most {MAX_FUNCTION}"
                + (
                    f" (allow-listed at {ceiling}, it may only shrink)"
                    if key in ALLOWED_FUNCTIONS
                    else ""
                )  # fmt: skip
                + "; split it into helpers."
            )
    assert not problems, "\n".join(problems)


def test_allow_lists_name_existing_code():
    """Every allow-listed module and function exists (a renamed one is removed)."""
    missing = [m for m in ALLOWED_MODULES if not (PACKAGE / m).is_file()]
    for key in ALLOWED_FUNCTIONS:
        rel, name = key.split("::")
        path = PACKAGE / rel
        names = (
            {n for n, _, _ in function_lengths(path.read_text(encoding="utf-8"))}
            if path.is_file()
            else set()
        )
        if name not in names:
            missing.append(key)
    assert not missing, f"allow-list entries naming nothing (remove them): {missing}"


# ------------------------------------------------ units named in docstrings
#: Arguments of public signal methods whose value carries a physical unit;
#: each must name its unit (or the axis whose unit it takes) in its numpydoc
#: ``Parameters`` entry, directly or through "See :meth:`other`".
UNIT_ARGS = {
    # lengths (nm, Å, µm, pixels) and reciprocal lengths (1/Å)
    "edge_width", "width", "bin_size", "distance", "depth", "thickness",
    "d_spacing", "halo_d", "max_shift", "min_distance", "tile_size",
    "detector_pixel_size", "camera_length", "min_size", "radius",
    "min_separation", "ring_width", "halo_width", "radial_range", "g_min",
    "ring_range",
    "scale", "center", "centre", "centre_std", "resolution", "signal_range",
    # energy, time, dose, current, area, angle, temperature, field, J-V
    "stokes_shift", "beam_energy", "exposure", "critical_dose", "pre_dose",
    "dose_rate", "dose", "beam_current", "illuminated_area", "area",
    "angular_width", "take_off_angle", "temperature", "field", "irradiance",
    "scan_rate", "min_shift", "urbach_energy", "urbach_edge",
}  # fmt: skip
#: Arguments whose names look unit-bearing but are not (counts, flags, maps
#: of any quantity, signals that carry their own axes).
UNITLESS = {
    "n_sigma", "nsigma", "shifts", "sigma", "reference_std", "return_separation",
    "angle_tolerance", "tolerance", "halo", "time_offset", "oc_fraction",
    "mpp_fraction", "mask", "intensity", "smoothing", "max_residual",
    "counts_per_electron", "beam_profile", "sc_range",
}  # fmt: skip
#: Where ``sigma`` is a length or a current density, it is in UNIT_ARGS for
#: that method: "Class.method" -> argument names.
UNIT_ARGS_BY_METHOD = {
    "InSituImageSeries.estimate_drift": {"sigma"},
    "Operando4DSTEM.estimate_scan_drift": {"sigma"},
    "JVCurve.figures_of_merit": {"sigma"},
    "CLSTEMPerovskiteSpectrum.particle_table": {"sigma"},
    # pixel-or-length and angle arguments (units engineer)
    "InSituImageSeries.fringe_intensity": {"direction", "step"},
    "EDSTEMBiasedSpectrum.align_frames": {"smooth"},
    "Operando4DSTEM.calibrate": {"rotation"},
}
_LOOKS_UNIT = re.compile(
    r"dose|energy|current|voltage|thick|distance|width|length|radius|spacing|"
    r"^d_|_d$|time|shift|size|exposure|rate|area|resolution|temperature|"
    r"angle|field|depth|irradiance|range|centre|center|scale|sigma|_std$|^g_"
)
_UNIT_WORD = re.compile(
    r"(?i:degree)|(\bnm\b|Å|\bA\b|1/A|\bA\^2|\bum\b|µm|\bmm\b|\bm\b|pixel|\bpx\b|\beV\b|"
    r"\bmeV\b|\bkeV\b|\bkV\b|\bV\b|V/m|V/s|\bs\b|\bms\b|e/A|e⁻|electron|cm|"
    r"\bmW\b|\bK\b|degC|\bdeg|degree|°|radian|mrad|mA|unit)"
)
_SEE = re.compile(r"(?:See|As for|as for|see)\s+:meth:`~?\.?([\w.]+)`")


def _param_docs(fn):
    from numpydoc.docscrape import NumpyDocString

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = NumpyDocString(inspect.getdoc(fn) or "")
    for p in doc["Parameters"]:
        text = " ".join([p.type, *p.desc])
        for name in p.name.split(","):
            out[name.strip()] = text
    return out


def _unit_text(cls, method, arg, depth=0):
    """The docstring text for ``arg`` of ``method``, following See-references."""
    fn = inspect.getattr_static(cls, method)
    fn = getattr(fn, "__func__", fn)
    text = _param_docs(fn).get(arg)
    if text is None:
        m = re.search(r"See :meth:`~?\.?([\w.]+)` for the parameters", fn.__doc__ or "")
        if m and depth < 3 and hasattr(cls, m.group(1).split(".")[-1]):
            return _unit_text(cls, m.group(1).split(".")[-1], arg, depth + 1)
        return None
    m = _SEE.search(text)
    if m and depth < 3 and not _UNIT_WORD.search(text.replace(m.group(0), "")):
        target = m.group(1).split(".")[-1]
        if hasattr(cls, target):
            return _unit_text(cls, target, arg, depth + 1) or text
    if text.strip() in ("See above.", "See above"):
        from numpydoc.docscrape import NumpyDocString

        doc = NumpyDocString(inspect.getdoc(fn) or "")
        summary = " ".join(doc["Summary"] + doc["Extended Summary"])
        i = summary.find(f"``{arg}``")
        return summary[i : i + 120] if i >= 0 else text
    return text


def test_unit_bearing_arguments_name_their_unit():
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from test_lazy_eager import public_methods

    problems = []
    for key, (cls, name) in sorted(public_methods().items()):
        fn = inspect.getattr_static(cls, name)
        if isinstance(fn, property):
            continue
        fn = getattr(fn, "__func__", fn)
        extra = UNIT_ARGS_BY_METHOD.get(key, set())
        for arg in inspect.signature(fn).parameters:
            if arg in ("self", "kwargs") or arg in OPTION_NAMES:
                continue
            unit_arg = arg in UNIT_ARGS or arg in extra
            if not unit_arg:
                if _LOOKS_UNIT.search(arg) and arg not in UNITLESS:
                    problems.append(
                        f"{key}({arg}=...): the name looks unit-bearing; add it "
                        "to UNIT_ARGS (and name its unit in the docstring) or to "
                        "UNITLESS in tests/test_house_rules.py"
                    )
                continue
            text = _unit_text(cls, name, arg)
            if text is None:
                problems.append(
                    f"{key}: argument {arg!r} has no entry in the numpydoc "
                    "Parameters section; document it with its unit"
                )
            elif not _UNIT_WORD.search(text):
                problems.append(
                    f"{key}: the docstring of {arg!r} does not name its unit "
                    f"(e.g. 'in nm', 'a number is in eV'): {text[:80]!r}"
                )
    assert not problems, "\n".join(problems)


OPTION_NAMES = ("inplace", "lazy_output", "show_progressbar", "num_workers")


# ------------------------------------------------ consistent argument names
#: Spellings that have one name across the suite (HyperSpy's where it exists).
SYNONYMS = {
    "nsigma": "n_sigma",
    "sigma_threshold": "n_sigma",
    "spectral_range": "signal_range",
    "energy_range": "signal_range",
    "wavelength_range": "signal_range",
    "fit_range": "signal_range",
    "progressbar": "show_progressbar",
    "show_progress": "show_progressbar",
    "lazy": "lazy_output",
    "n_workers": "num_workers",
    "workers": "num_workers",
    "in_place": "inplace",
}
#: Known exceptions being renamed by their owners: "Class.method" -> names.
SYNONYMS_ALLOWED = {}


def test_argument_names_are_consistent():
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from test_lazy_eager import public_methods

    bad = []
    for key, (cls, name) in sorted(public_methods().items()):
        fn = inspect.getattr_static(cls, name)
        if isinstance(fn, property):
            continue
        fn = getattr(fn, "__func__", fn)
        for arg in inspect.signature(fn).parameters:
            if arg in SYNONYMS and arg not in SYNONYMS_ALLOWED.get(key, ()):
                bad.append(f"{key}({arg}=...): call it {SYNONYMS[arg]!r}")
    assert not bad, "one name per argument across the suite: " + "; ".join(bad)
