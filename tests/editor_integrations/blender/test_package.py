"""The built extension zip installs into a clean Blender user folder and its operator scores a range."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.hosts import require

bpy = require("bpy", extra="blender")

from editor_integrations.blender import build  # noqa: E402

from .helpers import needs_sound  # noqa: E402

SCRIPT = Path(__file__).with_name("install_and_score.py")


def _build(out: Path) -> Path:
    """A linux-x64 zip with muvi's runtime wheel only: the other dependencies are this environment's."""
    (out / "empty").mkdir()
    argv = ["--out", str(out), "--platform", "linux-x64", "--wheels-from", str(out / "empty")]
    assert build.main([*argv, "--blender", ""]) == 0
    (path,) = out.glob("muvi-*.zip")
    return path


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    """Built and validated by Blender's own extension tool (the copy inside the bpy module)."""
    assert build.extension_tool(None) is not None
    return _build(tmp_path_factory.mktemp("dist"))


def test_zip_layout_and_manifest(extension_zip):
    _check_zip(extension_zip)


def test_zipfile_fallback_without_blender(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "extension_tool", lambda blender: None)
    _check_zip(_build(tmp_path))


def _check_zip(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        with zipfile.ZipFile(archive.open("wheels/muvi-0.1.0-py3-none-any.whl")) as wheel:
            packaged = set(wheel.namelist())
    assert {"__init__.py", "jobs.py", "ui.py", "README.md"} <= names and "build.py" not in names
    assert manifest["schema_version"] == "1.0.0" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0" and manifest["license"] == ["SPDX:Apache-2.0"]
    assert len(manifest["tagline"]) <= 64 and "files" in manifest["permissions"]
    assert manifest["platforms"] == ["linux-x64"]
    assert manifest["wheels"] == ["./wheels/muvi-0.1.0-py3-none-any.whl"]
    assert "muvi_plugin/api.py" in packaged and not any(
        n.startswith(("training/", "export/")) for n in packaged
    )


@pytest.mark.slow
@needs_sound
def test_zip_installs_into_a_clean_user_folder_and_scores(extension_zip, movie, debug_bundle, tmp_path):
    user = tmp_path / "blender-user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    env.pop("PYTHONPATH", None)  # muvi_plugin must come from the installed wheel, not this checkout
    args = [
        sys.executable,
        str(SCRIPT),
        str(extension_zip),
        str(movie),
        str(debug_bundle),
        str(tmp_path / "m"),
    ]
    run = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["status"] == "done", result["log"]
    assert result["extension"].startswith(str(user)) and result["runtime"].startswith(str(user))
    assert result["strip"] == {"channel": 2, "start": 1, "duration": 12, "seed": 5}
