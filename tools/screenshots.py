"""Render the panel window offscreen in its main states and save PNGs (for docs/panel/ and for review).

    python tools/screenshots.py --video examples/bbb_excerpt.mp4 [--bundle BUNDLE] [--out docs/panel]

A docs tool, not part of the runtime (it is not installed): it drives `muvi_plugin.panel.app.MainWindow`
like a user would. Needs the `panel` extra.

States: `empty.png`, `loaded.png` (video with a range), `generating.png` (mid-generation, then cancelled),
`takes.png` (three takes listed). Takes and settings go to a temporary folder, never the user's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "panel"
SIZE = (1100, 720)


def _parsed_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, required=True, help="the video to show")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: built in)")
    parser.add_argument("--out", type=Path, default=DOCS, help=f"where to save the PNGs (default {DOCS})")
    parser.add_argument("--range", type=float, nargs=2, default=(4.0, 12.5), metavar=("START", "END"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parsed_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QElapsedTimer, QSettings
    from PySide6.QtWidgets import QApplication

    from muvi_plugin.panel.app import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    args.out.mkdir(parents=True, exist_ok=True)

    def wait_until(done: Callable[[], bool], timeout_ms: int = 120_000) -> None:
        timer = QElapsedTimer()
        timer.start()
        while not done():
            if timer.elapsed() > timeout_ms:
                raise TimeoutError("the panel did not reach the state in time")
            QCoreApplication.processEvents()

    def shot(window: MainWindow, name: str) -> None:
        QCoreApplication.processEvents()
        path = args.out / name
        window.grab().save(os.fspath(path))
        print(path)

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(data_root=Path(tmp) / "data", settings=settings)
        window.resize(*SIZE)
        window.show()
        panel, box = window.panel, window.panel.settings_box
        shot(window, "empty.png")

        if not panel.open_video(args.video):
            print(panel.status.text(), file=sys.stderr)
            return 1
        panel.set_range(*args.range)
        # The preview loads asynchronously: show the picture at the range start, as a user would see it.
        wait_until(lambda: panel.preview.slider.maximum() > 0)
        panel.preview.seek(args.range[0])
        wait_until(
            lambda: (
                panel.preview.view.image is not None and abs(panel.preview.position() - args.range[0]) < 0.5
            )
        )
        if args.bundle is not None:
            box.bundle.setText(os.fspath(args.bundle))
        shot(window, "loaded.png")

        ended: list[str] = []
        panel.generationEnded.connect(ended.append)
        box.steps.setValue(1000)
        panel.generate()
        wait_until(lambda: panel.progress.format().startswith("dit") and panel.progress.value() > 300)
        shot(window, "generating.png")
        panel.cancel()
        wait_until(lambda: bool(ended))

        box.steps.setValue(10)
        for seed, name in ((7, "Warm strings"), (42, None), (1234, None)):
            box.seed.setValue(seed)
            ended.clear()
            panel.generate()
            wait_until(lambda: bool(ended))
            if name is not None and panel.store is not None:
                panel.store.rename(panel.store.takes[-1].id, name)
                panel.takes.set_store(panel.store)
        panel.takes.list.setCurrentRow(0)
        shot(window, "takes.png")
        window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
