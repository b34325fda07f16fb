"""The ``hspy-perovskite`` command.

``hspy-perovskite demo [--out DIR]`` runs the suite's main job on embedded,
simulated data with known truth and writes figures and summaries to DIR.
"""

from __future__ import annotations

import argparse
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
    written, failures, timings = [], [], {}
    for i, (title, target) in enumerate(parts, start=1):
        print(f"[{i}/{len(parts)}] {title} ...", file=stream, flush=True)
        t0 = time.perf_counter()
        try:
            paths = [Path(p) for p in _load(target)(out_dir)]
        except Exception as exc:  # report and go on with the other parts
            failures.append((title, exc))
            print(f"    FAILED: {exc!r}", file=stream, flush=True)
            traceback.print_exc(file=sys.stderr)
            continue
        dt = time.perf_counter() - t0
        timings[title] = round(dt, 2)
        written.extend(paths)
        print(f"    done in {dt:.1f} s, {len(paths)} file(s)", file=stream, flush=True)
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


def main(argv=None):
    """Entry point of ``hspy-perovskite``."""
    parser = argparse.ArgumentParser(
        prog="hspy-perovskite",
        description="HyperSpy extension suite for in situ electron microscopy "
        "of halide perovskites.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser(
        "demo", help="run the main analyses on built-in simulated data"
    )
    demo.add_argument(
        "--out", default="hspy_perovskite_demo", help="output folder (created)"
    )
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 2
    written, failures = run_demo(args.out)
    out = Path(args.out).resolve()
    print(f"\nOutputs in {out}:")
    for p in written:
        print(f"  {p}")
    if failures:
        print(f"\n{len(failures)} part(s) failed: " + ", ".join(t for t, _ in failures))
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
