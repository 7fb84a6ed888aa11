"""The panel's tests drive the real widgets in a real Qt event loop, offscreen (no display needed).

`QT_QPA_PLATFORM` must be set before the `QApplication` exists; pytest-qt creates it lazily (the `qapp`
fixture), after this module is imported. Takes and settings go under `tmp_path`, never the user's folders.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from tests.hosts import require  # noqa: E402

require("PySide6", extra="panel")
require("pytestqt", extra="dev")

from PySide6.QtCore import QSettings  # noqa: E402

from tests import media_factory as mf  # noqa: E402


@pytest.fixture(scope="session")
def video(tmp_path_factory):
    """An 8-second 10 FPS pattern video with a sine soundtrack (small: 64x48)."""
    return mf.make_video(tmp_path_factory.mktemp("panel_media") / "clip.mp4", seconds=8.0)


@pytest.fixture
def data_root(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def qsettings(tmp_path):
    return QSettings(os.fspath(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_panel(qtbot, data_root, qsettings):
    """Builds `MuviPanel`s over the test's data root and settings file; shuts them down at the end."""
    from muvi_plugin.panel import MuviPanel

    made = []

    def make():
        panel = MuviPanel(data_root=data_root, settings=qsettings)
        qtbot.addWidget(panel)
        panel.resize(1000, 640)
        panel.show()
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.shutdown()


@pytest.fixture
def panel(make_panel):
    return make_panel()


def generate(qtbot, panel, *, steps: int = 2, timeout: int = 60_000) -> str:
    """Click Generate and wait for the outcome ("done", "cancelled" or "failed")."""
    from PySide6.QtCore import Qt

    panel.settings_box.steps.setValue(steps)
    with qtbot.waitSignal(panel.generationEnded, timeout=timeout) as blocker:
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]
