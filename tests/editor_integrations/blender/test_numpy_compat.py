"""The extension's wheels work with the NumPy of every supported Blender (issue 19).

Blender 4.2 bundles NumPy 1.24; SciPy 1.16 and later (pulled in by pyloudnorm, and used by mastering's
true peak) need NumPy 1.25, so an extension built with the newest SciPy installed there and failed every
score with "No module named 'numpy.exceptions'". The build now resolves the wheels with the oldest
supported Blender's NumPy. Checked by hand with the real wheels (docs/reliability.md, Host compatibility:
bpy 4.2.23 + NumPy 1.24.4 scores with the built zip, and fails with SciPy 1.17.1); here, without network,
the resolution rule and the one line a host gets when its NumPy is too old for the SciPy it has.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from pathlib import Path

import pytest

from tests import media_factory as mf

REPO = Path(__file__).resolve().parents[3]
BLENDER = REPO / "editor_integrations" / "blender"


def build_module():
    """editor_integrations/blender/build.py on its own (the package's __init__ needs bpy; build does not)."""
    spec = importlib.util.spec_from_file_location("muvi_blender_build", BLENDER / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wheels_are_resolved_with_the_oldest_supported_blenders_numpy(tmp_path):
    build = build_module()
    oldest = tomllib.loads((BLENDER / "blender_manifest.toml").read_text())["blender_version_min"]
    assert oldest == "4.2.0" and build.BLENDER_NUMPY["4.2"] == "1.24"
    for platform in build.PLATFORMS:
        command = build.download_command(tmp_path, platform)
        assert command[-1] == "numpy==1.24.*" and set(build.RUNTIME) <= set(command)
    # Every Blender from the oldest on has its NumPy series listed, none older than the one resolved with.
    series = [tuple(map(int, v.split("."))) for v in build.BLENDER_NUMPY.values()]
    assert min(series) == (1, 24) and "5.0" in build.BLENDER_NUMPY
    assert build.SKIP.match("numpy-1.24.4-cp311-cp311-manylinux_2_17_x86_64.whl")  # Blender's own is used


def test_a_scipy_too_new_for_the_hosts_numpy_is_one_error_line_to_the_host(tmp_path):
    # A SciPy that cannot load with this NumPy, as SciPy 1.17 fails in Blender 4.2 (its first import). The
    # extension runs muvi through the host protocol (`muvi score --progress json`, muvi_plugin.host).
    shadow = tmp_path / "shadow" / "scipy"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'numpy.exceptions'\", name='numpy.exceptions')\n"
    )
    video = mf.make_video(tmp_path / "clip.mp4", seconds=1.0)
    out = tmp_path / "music.wav"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), str(REPO)])}
    from muvi_plugin.errors import MuviError
    from muvi_plugin.host import ScoreProcess

    job = ScoreProcess([video, "--end", 1, "--seed", 1, "--steps", 2, "--out", out], env=env)
    with pytest.raises(MuviError) as failed:
        job.result()
    # Before: a ModuleNotFoundError traceback from deep inside pyloudnorm.
    assert job.returncode == 2 and not any("Traceback" in line for line in job.log), job.log
    # The first part to load SciPy says so (the tempo plan, before mastering), in one line.
    assert str(failed.value) == job.error == (
        "the tempo plan cannot load scipy.ndimage with NumPy "
        f"{_numpy_version()} (No module named 'numpy.exceptions'); install versions of SciPy, pyloudnorm and "
        "pedalboard that support this NumPy"
    )
    assert not out.exists()


def _numpy_version() -> str:
    import numpy

    return numpy.__version__
