"""The ``hspy-perovskite`` command.

``hspy-perovskite demo [--out DIR]`` runs the suite's main job on embedded,
simulated data with known truth and writes figures and summaries to DIR.
``hspy-perovskite report EXPERIMENT.toml`` analyses your own files and writes
one HTML report (``--example DIR`` writes an experiment file for the real
files shipped with the package). The subcommands are the table
:data:`COMMANDS`; without one, the help is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from hyperspy_perovskite import __version__


def _load(target):
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


@contextlib.contextmanager
def _captured_warnings():
    """Warnings and HyperSpy/RosettaSciIO log warnings of a demo part, as text
    (each once), so that the console shows progress rather than warnings."""
    import logging
    import warnings

    texts = []

    class Handler(logging.Handler):
        def emit(self, record):
            texts.append(f"{record.name}: {record.getMessage()}")

    handler = Handler(level=logging.WARNING)
    loggers = [logging.getLogger(n) for n in ("hyperspy", "rsciio", "exspy", "lumispy")]
    saved = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for category in (DeprecationWarning, PendingDeprecationWarning):
                warnings.filterwarnings("ignore", category=category)
            warnings.filterwarnings("ignore", message="Importing `")
            warnings.filterwarnings("ignore", message="The NestedDirectoryStore")
            yield texts
    finally:
        for lg, prop in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.propagate = prop
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in texts:
            texts.append(text)


def run_demo(out_dir, parts=None, stream=sys.stdout):
    """Run the demo parts into ``out_dir``; return ``(written paths, failures)``.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder for the outputs (created if needed).
    parts : list of (str, str) or None
        ``(title, "module:function")`` pairs; default
        :data:`hyperspy_perovskite.report.demo.DEMO_PARTS`.
    stream : file-like
        Where progress is printed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import hyperspy.api as hs

    hs.preferences.General.show_progressbar = False
    from hyperspy_perovskite.report.demo import DEMO_PARTS

    parts = DEMO_PARTS if parts is None else parts
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failures, timings, warned = [], [], {}, {}
    for i, (title, target) in enumerate(parts, start=1):
        print(f"[{i}/{len(parts)}] {title} ...", file=stream, flush=True)
        t0 = time.perf_counter()
        try:
            with _captured_warnings() as caught:
                paths = [Path(p) for p in _load(target)(out_dir)]
        except Exception as exc:  # report and go on with the other parts
            failures.append((title, exc))
            print(f"    FAILED: {exc!r}", file=stream, flush=True)
            traceback.print_exc(file=sys.stderr)
            continue
        dt = time.perf_counter() - t0
        timings[title] = round(dt, 2)
        written.extend(paths)
        note = ""
        if caught:
            warned[title] = caught
            note = f", {len(caught)} warning(s) in demo_warnings.txt"
        print(
            f"    done in {dt:.1f} s, {len(paths)} file(s){note}",
            file=stream,
            flush=True,
        )
    if warned:
        wpath = out_dir / "demo_warnings.txt"
        wpath.write_text(
            "\n".join(f"[{t}] {w}" for t, ws in warned.items() for w in ws) + "\n"
        )
        written.append(wpath)
    index = out_dir / "demo_index.json"
    index.write_text(
        json.dumps(
            {
                "version": __version__,
                "parts_seconds": timings,
                "failed": [t for t, _ in failures],
                "files": [
                    str(p.relative_to(out_dir)) if p.is_relative_to(out_dir) else str(p)
                    for p in written
                ],
            },
            indent=2,
        )
    )
    return written + [index], failures


def _cmd_demo(args):
    written, failures = run_demo(args.out)
    out = Path(args.out).resolve()
    print(f"\nOutputs in {out}:")
    for p in written:
        print(f"  {p}")
    if failures:
        print(f"\n{len(failures)} part(s) failed: " + ", ".join(t for t, _ in failures))
        return 1
    return 0


def _args_demo(parser):
    parser.add_argument(
        "--out", default="hspy_perovskite_demo", help="output folder (created)"
    )


def _cmd_report(args):
    from hyperspy_perovskite.report.experiment import ExperimentError

    if args.list:
        from hyperspy_perovskite.report.sections import get_sections

        for key, section in get_sections().items():
            print(f"[{key}]  {section.title}")
            for option, default in section.defaults.items():
                req = " (required)" if option in section.required else ""
                print(
                    f"    {option} = {default!r}{req}: {section.help.get(option, '')}"
                )
        return 0
    if args.example is not None:
        from hyperspy_perovskite.report.example import write_example

        path = write_example(args.example)
        print(f"Wrote {path}\nRun it with:\n    hspy-perovskite report {path}")
        return 0
    if args.experiment is None:
        print(
            "Give an experiment file (hspy-perovskite report EXPERIMENT.toml), or "
            "write an example with hspy-perovskite report --example DIR.",
            file=sys.stderr,
        )
        return 2
    from hyperspy_perovskite.report.pipeline import build_report

    try:
        result = build_report(args.experiment, output=args.out)
    except (ExperimentError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"\nReport: {result['html']}")
    print(f"Numbers (JSON): {result['json']}")
    print(
        f"{len(result['results'])} result file(s) in {result['html'].parent / 'results'}"
    )
    if result["failed"]:
        print(
            f"{len(result['failed'])} section(s) failed: {', '.join(result['failed'])}"
        )
        return 1
    return 0


def _args_report(parser):
    parser.add_argument(
        "experiment", nargs="?", help="experiment file (TOML) naming your data"
    )
    parser.add_argument("--out", help="output folder (default: the file's `output`)")
    parser.add_argument(
        "--example",
        metavar="DIR",
        help="write DIR/experiment.toml for the real files shipped with the package",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the sections and their options"
    )


def _cmd_hyperspyui(args):
    from hyperspy_perovskite.gui import install_hyperspyui_plugin

    try:
        path = install_hyperspyui_plugin(args.directory)
    except ImportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Installed the Perovskite menu for hyperspyUI: {path}")
    print("Start hyperspyUI with: hyperspyui")
    return 0


def _args_hyperspyui(parser):
    parser.add_argument(
        "--directory", help="plugin folder (default ~/.hyperspy_perovskite/hyperspyui)"
    )


#: The subcommands: name -> (help, add arguments, run). One table.
COMMANDS = {
    "demo": (
        "run the main analyses on built-in simulated data with known truth",
        _args_demo,
        _cmd_demo,
    ),
    "report": (
        "analyse your own files named in an experiment file; write an HTML report",
        _args_report,
        _cmd_report,
    ),
    "install-hyperspyui-plugin": (
        "add the Perovskite menu to hyperspyUI (needs the gui extra)",
        _args_hyperspyui,
        _cmd_hyperspyui,
    ),
}


def build_parser():
    """The argument parser of ``hspy-perovskite`` (from :data:`COMMANDS`)."""
    parser = argparse.ArgumentParser(
        prog="hspy-perovskite",
        description="HyperSpy extension suite for in situ electron microscopy "
        "of halide perovskites.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv=None):
    """Entry point of ``hspy-perovskite``: without a command, print the help."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
