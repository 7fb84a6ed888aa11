"""`muvi-export`: each path of the command, and its errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from export.cli import main
from muvi_plugin.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]


def test_debug_random(tmp_path, capsys):
    assert main(["--debug-random", "--out", str(tmp_path / "b")]) == 0
    manifest = read_manifest(tmp_path / "b")
    assert manifest.name == "muvi-debug" and manifest.precision == "fp32"
    out = capsys.readouterr().out
    assert manifest.bundle_id in out and "dit_velocity" in out and "max abs error" in out


def test_from_checkpoints_fp16_without_verification(checkpoints, tmp_path, capsys):
    argv = ["--v2m", str(checkpoints["v2m"]), "--vocoder", str(checkpoints["vocoder"])]
    assert main([*argv, "--out", str(tmp_path / "b"), "--name", "mine", "--fp16", "--no-verify"]) == 0
    manifest = read_manifest(tmp_path / "b")
    assert (manifest.name, manifest.precision) == ("mine", "fp16")
    assert manifest.provenance["verification"] == "skipped"
    assert "not verified" in capsys.readouterr().out


def test_wrong_checkpoint_is_a_clear_error(checkpoints, tmp_path, capsys):
    argv = [
        "--v2m",
        str(checkpoints["vae"]),
        "--vocoder",
        str(checkpoints["vocoder"]),
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("muvi-export: error: ") and str(checkpoints["vae"]) in err and "lacks" in err
    assert not (tmp_path / "b").exists()


def test_existing_output_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("x")
    assert main(["--debug-random", "--out", str(tmp_path / "b"), "--no-verify"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--v2m", "a.ckpt", "--out", "x"], "--v2m needs --vocoder"),
        (["--debug-random", "--vocoder", "a.ckpt", "--out", "x"], "takes no --vocoder"),
        (["--out", "x"], "one of the arguments --v2m --debug-random is required"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_console_script_is_declared():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["muvi-export"] == "export.cli:main"
