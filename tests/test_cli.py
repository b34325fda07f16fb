"""The hspy-perovskite command."""

import json
import subprocess
import sys

import pytest

from hyperspy_perovskite import cli
from hyperspy_perovskite.report import demo


def _boom(out_dir):
    raise RuntimeError("simulated failure")


def test_demo_reports_outputs_and_fails_loudly(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "_boom", _boom, raising=False)
    monkeypatch.setattr(
        demo,
        "DEMO_PARTS",
        [
            ("fitting", "hyperspy_perovskite.report.demo_fitting:run"),
            ("broken", "hyperspy_perovskite.report.demo:_boom"),
        ],
    )
    code = cli.main(["demo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 part(s) failed: broken" in out
    assert str(tmp_path / "fitting_summary.json") in out
    summary = json.loads((tmp_path / "fitting_summary.json").read_text())
    assert summary["n_converged"] == summary["n_pixels"]
    assert summary["fraction_centre_within_3_std"] >= 0.98
    assert summary["median_abs_centre_error_nm"] < 0.2
    index = json.loads((tmp_path / "demo_index.json").read_text())
    assert index["failed"] == ["broken"]


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_version():
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0


@pytest.mark.slow
def test_full_demo_command(tmp_path):
    """The installed console script runs every demo part and exits 0."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hyperspy_perovskite.cli",
            "demo",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = json.loads((tmp_path / "demo_index.json").read_text())
    assert index["failed"] == []
    assert len(index["files"]) >= len(demo.DEMO_PARTS)
    for name in index["files"]:
        assert (tmp_path / name).stat().st_size > 0
    assert "Outputs in" in proc.stdout


def test_commands_come_from_one_table(capsys):
    parser = cli.build_parser()
    help_text = " ".join(parser.format_help().split())
    for name, (help_, _, _) in cli.COMMANDS.items():
        assert name in help_text and help_ in help_text


def test_report_example_list_and_missing_file(tmp_path, capsys):
    assert cli.main(["report", "--example", str(tmp_path)]) == 0
    assert (tmp_path / "experiment.toml").is_file()
    assert "hspy-perovskite report" in capsys.readouterr().out
    assert cli.main(["report", "--list"]) == 0
    out = capsys.readouterr().out
    assert "[cl]" in out and "map" in out and "(required)" in out
    assert cli.main(["report"]) == 2
    assert "--example DIR" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
