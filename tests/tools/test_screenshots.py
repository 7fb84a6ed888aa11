"""tools/screenshots.py renders the panel's four states offscreen (the PNGs of docs/panel/)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import media_factory as mf

pytest.importorskip("PySide6")
REPO = Path(__file__).resolve().parents[2]
STATES = ["empty.png", "generating.png", "loaded.png", "takes.png"]


@pytest.mark.slow
def test_four_states_are_saved_and_nothing_else_is_written(debug_bundle, tmp_path):
    from PySide6.QtGui import QImage

    video = mf.make_video(tmp_path / "clip.mp4", seconds=8.0)
    out, cwd = tmp_path / "shots", tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, str(REPO / "tools" / "screenshots.py"), "--video", str(video), "--bundle",
               str(debug_bundle), "--out", str(out), "--range", "1", "6"]  # fmt: skip
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == STATES
    for name in STATES:
        image = QImage(str(out / name))
        assert (image.width(), image.height()) == (1100, 720), name
    assert list(cwd.iterdir()) == [], "takes and settings go to a temporary folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "cwd", "shots"]
