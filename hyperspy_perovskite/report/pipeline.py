"""``hspy-perovskite report EXPERIMENT.toml``: run the analyses, write the report.

For each section of the experiment file, in report order: load the files it
names, run the analysis, save every result (``.zspy`` or ``.hspy``) under
``<output>/results``, and collect figures, tables and numbers. Then write
``<output>/report.html`` (one self-contained file) and ``<output>/report.json``
(the numbers, validity fractions, warnings and provenance in machine-readable
form). A section that fails is reported as failed, with its error, and the
others still run.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

from hyperspy_perovskite.report._context import Number, SectionContext
from hyperspy_perovskite.report.experiment import load_experiment
from hyperspy_perovskite.report.html import package_versions, render_html

__all__ = ["build_report", "file_sha256"]


def file_sha256(path, chunk=1 << 20):
    """SHA-256 of a file, hex.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_text("abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _inputs(experiment, sections):
    out = []
    for key, options in experiment.sections.items():
        for option in sections[key].files:
            p = options.get(option)
            if p in (None, ""):
                continue
            p = Path(p)
            out.append(
                {
                    "section": key,
                    "option": option,
                    "path": str(p),
                    "bytes": p.stat().st_size,
                    "sha256": file_sha256(p),
                }
            )
    return out


def _run_section(section, options, ctx):
    ctx.parameters = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()
    }
    t0 = time.perf_counter()
    try:
        section.run(ctx, options)
    except Exception as exc:  # the report shows it; the other sections still run
        ctx.failed = f"{type(exc).__name__}: {exc}"
        ctx.progress(f"FAILED: {ctx.failed}")
        traceback.print_exc(file=sys.stderr)
    ctx.timings["section total"] = round(time.perf_counter() - t0, 2)


def _json_item(item):
    if item.kind == "numbers":
        return {
            "kind": "numbers",
            "caption": item.caption,
            "numbers": [
                {
                    "name": n.name,
                    "value": _finite(n.value),
                    "std": _finite(n.std),
                    "unit": n.unit,
                    "note": n.note,
                }
                for n in item.payload
                if isinstance(n, Number)
            ],
        }
    if item.kind == "table":
        return {
            "kind": "table",
            "caption": item.caption,
            "table": item.payload.to_dict(),
        }
    if item.kind == "figure":
        return {"kind": "figure", "caption": item.caption}
    return {"kind": item.kind, "caption": item.caption, "text": str(item.payload)}


def _finite(v):
    if v is None:
        return None
    v = float(v)
    return v if v == v and abs(v) != float("inf") else None


def build_report(experiment_file, output=None, stream=sys.stdout):
    """Run every section of an experiment file and write its report.

    Parameters
    ----------
    experiment_file : str or pathlib.Path
        The TOML file (see :mod:`hyperspy_perovskite.report.experiment`).
    output : str or pathlib.Path, optional
        Output folder (overrides the file's ``output``).
    stream : file-like
        Where progress is printed.

    Returns
    -------
    dict
        ``html`` and ``json`` (paths), ``results`` (saved files), ``failed``
        (section keys that failed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import hyperspy.api as hs

    from hyperspy_perovskite.report.sections import get_sections

    experiment = load_experiment(experiment_file, output=output)
    sections = get_sections()
    out = experiment.output
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    saved_pref = hs.preferences.General.show_progressbar
    hs.preferences.General.show_progressbar = False  # progress: one line per step
    contexts = []
    try:
        n = len(experiment.sections)
        for i, (key, options) in enumerate(experiment.sections.items(), start=1):
            section = sections[key]
            print(f"[{i}/{n}] {section.title}", file=stream, flush=True)
            ctx = SectionContext(
                key=key,
                title=section.title,
                results_dir=out / "results",
                file_format=experiment.file_format,
                stream=stream,
            )
            _run_section(section, options, ctx)
            contexts.append(ctx)
    finally:
        hs.preferences.General.show_progressbar = saved_pref
    provenance = {
        "run": {
            "experiment file": str(experiment.path),
            "experiment file SHA-256": file_sha256(experiment.path),
            "date (UTC)": started.strftime("%Y-%m-%d %H:%M:%S"),
            "total time (s)": round(
                (datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1
            ),
            "command": " ".join(sys.argv) or "build_report",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "versions": package_versions(),
        "inputs": _inputs(experiment, sections),
    }
    html_path = out / "report.html"
    html_path.write_text(
        render_html(experiment.title, contexts, provenance, out), encoding="utf-8"
    )
    json_path = out / "report.json"
    json_path.write_text(
        json.dumps(
            {
                "title": experiment.title,
                "sections": {
                    c.key: {
                        "title": c.title,
                        "failed": c.failed,
                        "items": [_json_item(i) for i in c.items],
                        "saved": [str(p) for p in c.saved],
                        "parameters": c.parameters,
                        "timings_s": c.timings,
                    }
                    for c in contexts
                },
                "provenance": provenance,
            },
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    return {
        "html": html_path,
        "json": json_path,
        "results": [p for c in contexts for p in c.saved],
        "failed": [c.key for c in contexts if c.failed],
    }
